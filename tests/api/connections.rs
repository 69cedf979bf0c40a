//! Connections: slow clients are cut off, the connection cap refuses the excess, shutdown keeps
//! its deadline, and HTTP/2 cleartext is served on the same port as HTTP/1.1.

use std::time::Duration;

use quotaplane::app::Settings;
use quotaplane::http::connections::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::on_both_backends_with;
use crate::support::TestApp;

/// A server with a 1 s header-read timeout and room for `max_connections`.
fn strict(max_connections: usize) -> Settings {
    Settings {
        connections: Limits {
            header_read_timeout: Duration::from_secs(1),
            max_connections,
            http2_keep_alive: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Settings::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection (or resets it); true once it has. Gives up
/// (false) if the connection stays open for `patience`.
async fn closed_by_server(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(patience, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Opens a connection and sends the head of a tenant's creation announcing `length` bytes of body,
/// with `Expect: 100-continue`. Returns once the server's `100 Continue` shows it has read the head
/// and is reading the body: the request is in flight. (A head merely written may still be unread
/// when shutdown begins, and graceful shutdown closes such a connection as idle.)
async fn in_flight_creation(app: &TestApp, length: usize) -> TcpStream {
    let mut stream = connect(app).await;
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\
         Expect: 100-continue\r\n\r\n",
        app.system
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write the head");
    let expected = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut interim = [0u8; 25];
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut interim));
    assert!(
        read.await.is_ok_and(|r| r.is_ok()),
        "the server asks for the body"
    );
    assert_eq!(&interim, expected, "{}", String::from_utf8_lossy(&interim));
    stream
}

async fn healthz(app: &TestApp) -> u16 {
    app.client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(format!("{}/metrics", app.base)).send().await;
    response.expect("GET /metrics").text().await.expect("text")
}

on_both_backends_with! {
    settings = strict(64);

    async fn a_slowloris_connection_is_closed_while_normal_requests_are_answered(app) {
        let mut slow = connect(&app).await;
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");

        let mut lines = 0;
        let cut_off = loop {
            // One more header line now and then, never the blank line that ends the head.
            let _ = slow.write_all(format!("X-Slow-{lines}: 1\r\n").as_bytes()).await;
            lines += 1;
            assert_eq!(healthz(&app).await, 200, "normal requests are answered meanwhile");
            if closed_by_server(&mut slow, Duration::from_millis(250)).await {
                break true;
            }
            if lines > 120 {
                break false;
            }
        };

        assert!(cut_off, "the slow client was still connected after {lines} header lines");
        assert!(metrics(&app).await.contains("quotaplane_connections_closed_total{reason=\"header_timeout\"}"));
    }

    async fn a_connection_that_sends_nothing_is_closed(app) {
        let mut silent = connect(&app).await;

        assert!(closed_by_server(&mut silent, Duration::from_secs(30)).await);
    }

    async fn a_kept_alive_connection_left_idle_is_closed(app) {
        let mut idle = connect(&app).await;
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut answer = [0u8; 12];
        idle.read_exact(&mut answer).await.expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 200");

        assert!(closed_by_server(&mut idle, Duration::from_secs(30)).await);
    }

    async fn an_http2_connection_that_stops_after_its_preface_is_closed(app) {
        let mut mute = connect(&app).await;
        mute.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.expect("preface");

        assert!(closed_by_server(&mut mute, Duration::from_secs(30)).await, "unanswered pings close it");
    }

    async fn an_http2_preface_sent_in_part_is_closed(app) {
        let mut partial = connect(&app).await;
        partial.write_all(b"PRI * HTTP/2").await.expect("part of the preface");

        assert!(closed_by_server(&mut partial, Duration::from_secs(30)).await);
    }

    async fn a_request_over_http2_cleartext_is_answered_on_the_same_port(app) {
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");

        let response = h2.get(format!("{}/healthz", app.base)).send().await.expect("h2c GET");

        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
    }
}

on_both_backends_with! {
    settings = Settings {
        connections: Limits { max_connections: 2, ..Limits::default() },
        ..Settings::default()
    };

    async fn the_connection_cap_refuses_the_excess_and_serves_the_rest(app) {
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = connect(&app).await;
            stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
            held.push(stream);
        }

        let mut excess = connect(&app).await;
        assert!(closed_by_server(&mut excess, Duration::from_secs(30)).await, "the third is closed");

        drop(held.pop());
        let mut answered = 0;
        for _ in 0..200 {
            if healthz(&app).await == 200 {
                answered += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(answered, 1, "a freed slot serves requests again");
        // With the other slot free too (a pooled connection may still hold this one's).
        drop(held);
        let mut counted = false;
        for _ in 0..200 {
            let scraped = app.client.get(format!("{}/metrics", app.base)).send().await;
            if let Ok(text) = match scraped { Ok(r) => r.text().await, Err(e) => Err(e) } {
                counted = text.contains("quotaplane_connections_refused_total");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(counted, "refusals are counted in /metrics");
    }
}

on_both_backends_with! {
    settings = Settings::default();

    async fn a_request_in_flight_when_shutdown_begins_is_answered(app) {
        let body = br#"{"name": "late"}"#;
        let mut in_flight = in_flight_creation(&app, body.len()).await;

        app.begin_shutdown();
        in_flight.write_all(body).await.expect("the body");
        let mut answer = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), in_flight.read_to_string(&mut answer));

        assert!(read.await.is_ok_and(|r| r.is_ok()), "answered, then closed");
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        let server = app.server.take().expect("server");
        let stopped = tokio::time::timeout(Duration::from_secs(30), server).await;
        assert!(stopped.is_ok_and(|s| s.is_ok_and(|served| served.is_ok())));
    }
}

on_both_backends_with! {
    settings = Settings {
        request_timeout: Duration::from_secs(120),
        connections: Limits {
            header_read_timeout: Duration::from_secs(120),
            shutdown_deadline: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Settings::default()
    };

    async fn shutdown_completes_within_its_deadline_with_a_slow_client_mid_request(app) {
        // A request whose body never comes: in flight, so graceful shutdown waits for it.
        let mut slow = in_flight_creation(&app, 100).await;

        app.begin_shutdown();
        let server = app.server.take().expect("server");
        let stopped = tokio::time::timeout(Duration::from_secs(60), server).await;

        let served = stopped.expect("shutdown finished long before the slow request would");
        assert!(served.expect("task").is_ok());
        assert!(closed_by_server(&mut slow, Duration::from_secs(5)).await, "the slow client was dropped");
    }
}
