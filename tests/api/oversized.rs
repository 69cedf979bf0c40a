//! Bodies past the limit: the client reads the 413 however it sends the body, rather than a
//! broken pipe or a reset because the server answered and closed while the body was still coming.
//! Raw sockets, so a write the server refused shows as the error it is.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::on_both_backends;
use crate::support::TestApp;

const MIB: usize = 1024 * 1024;

/// A request head for a tenant's creation, with `framing` (its `Content-Length` or
/// `Transfer-Encoding` line and any other).
fn head(app: &TestApp, framing: &str) -> String {
    format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n{framing}\r\n",
        app.system
    )
}

/// Sends `head`, then has `send_body` write the body while the answer is read: whether the body
/// was all written, and everything the server sent until it closed (or 10 s passed). The writer
/// comes back from `send_body` and is dropped only then: a client that shuts its side down
/// before the answer is one hyper stops serving.
async fn exchange<F, Fut>(app: &TestApp, head: String, send_body: F) -> (bool, String)
where
    F: FnOnce(OwnedWriteHalf) -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<OwnedWriteHalf>> + Send + 'static,
{
    let stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.expect("head");
    let writing = tokio::spawn(send_body(writer));
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&answer).contains("payload_too_large") {
                break;
            }
        }
    })
    .await;
    // A writer the server neither reads nor closes on would block: that is not written either.
    let written = matches!(
        tokio::time::timeout(Duration::from_secs(20), writing).await,
        Ok(Ok(Ok(_)))
    );
    (written, String::from_utf8_lossy(&answer).into_owned())
}

/// Writes `total` bytes of `x`, a MiB at a time, each chunk framed as HTTP/1.1 chunked when
/// `chunked` (and the last chunk after them).
async fn write_body(
    mut writer: OwnedWriteHalf,
    total: usize,
    chunked: bool,
) -> std::io::Result<OwnedWriteHalf> {
    let chunk = vec![b'x'; MIB];
    let mut left = total;
    while left > 0 {
        let n = left.min(MIB);
        if chunked {
            writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
        }
        writer.write_all(&chunk[..n]).await?;
        if chunked {
            writer.write_all(b"\r\n").await?;
        }
        left -= n;
    }
    if chunked {
        writer.write_all(b"0\r\n\r\n").await?;
    }
    writer.flush().await?;
    Ok(writer)
}

on_both_backends! {
    async fn a_client_that_sends_eight_mebibytes_with_their_length_reads_the_413(app) {
        for _ in 0..3 {
            let head = head(&app, &format!("Content-Length: {}\r\n", 8 * MIB));
            let (written, answer) =
                exchange(&app, head, |w| write_body(w, 8 * MIB, false)).await;
            assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
            assert!(answer.contains("payload_too_large"), "{answer:.600}");
            assert!(written, "the server read the body it refused: no broken pipe");
        }
    }

    async fn a_client_that_sends_eight_mebibytes_chunked_reads_the_413(app) {
        for _ in 0..3 {
            let head = head(&app, "Transfer-Encoding: chunked\r\n");
            let (written, answer) = exchange(&app, head, |w| write_body(w, 8 * MIB, true)).await;
            assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
            assert!(answer.contains("payload_too_large"), "{answer:.600}");
            assert!(written, "the server read the body it refused: no broken pipe");
        }
    }

    async fn a_client_that_expects_100_continue_gets_the_413_without_sending_the_body(app) {
        let head = head(&app, &format!("Content-Length: {}\r\nExpect: 100-continue\r\n", 8 * MIB));
        let (_, answer) = exchange(&app, head, |w| async { Ok(w) }).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "no 100 Continue first: {answer:.300}");
        assert!(answer.contains("payload_too_large"), "{answer:.600}");
    }

    async fn the_server_reads_a_bounded_amount_of_a_refused_body_then_closes(app) {
        let head = head(&app, &format!("Content-Length: {}\r\n", 1024 * MIB));
        let (written, _) = exchange(&app, head, |w| write_body(w, 1024 * MIB, false)).await;
        assert!(!written, "a gibibyte is more than the server reads of a body it refused");
    }

    async fn a_body_just_within_the_limit_is_still_read_whole(app) {
        let body = format!("{{\"name\": \"within\"{}}}", " ".repeat(MIB / 2));
        let head = head(&app, &format!("Content-Length: {}\r\n", body.len()));
        let (written, answer) = exchange(&app, head, move |mut w| async move {
            w.write_all(body.as_bytes()).await?;
            Ok(w)
        })
        .await;
        assert!(written);
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer:.300}");
    }
}
