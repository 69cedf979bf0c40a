//! The accept loop: every connection is served by hyper-util's auto builder (HTTP/1.1 and
//! HTTP/2 cleartext with prior knowledge, on one port), with hyper's own header-read timeout, a
//! cap on open connections, and a graceful shutdown that has a deadline. `axum::serve` has none
//! of these, and a client that trickles its headers one byte at a time held its connection for
//! as long as it liked.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::links::LocalAddr;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send a request's head (HTTP/1), counted from when the
    /// connection starts waiting for it: for a kept-alive connection that is the end of the
    /// previous response, so this is also the idle timeout between requests. The bytes that
    /// choose HTTP/1 or HTTP/2 must arrive within it too.
    pub header_read_timeout: Duration,
    /// Most connections open at once; the excess is closed as soon as it is accepted.
    pub max_connections: usize,
    /// After shutdown begins, how long requests in flight may take to finish before their
    /// connections are dropped.
    pub shutdown_deadline: Duration,
    /// HTTP/2: the interval of keep-alive pings, and how long an unanswered one is waited for
    /// before the connection is closed.
    pub http2_keep_alive: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_deadline: Duration::from_secs(30),
            http2_keep_alive: Duration::from_secs(20),
        }
    }
}

/// The first bytes of every HTTP/2 connection with prior knowledge.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, asks every
/// connection to close once its requests in flight are answered (idle ones close at once), and
/// drops whatever is still open when `limits.shutdown_deadline` has passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keep_alive)
        .keep_alive_timeout(limits.http2_keep_alive);
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("quotaplane_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let app = app.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _open = Open::counted(permit);
            serve_one(&builder, stream, peer, app, limits, &mut stopping).await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown deadline passed: dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// An open connection: holds its slot under the cap and counts itself in
/// `quotaplane_connections_open` until dropped (also when its task is aborted at the deadline).
struct Open {
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Open {
    fn counted(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        metrics::gauge!("quotaplane_connections_open").increment(1.0);
        Self { _slot: permit }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!("quotaplane_connections_open").decrement(1.0);
    }
}

/// Serves one connection until it closes, times out, or shutdown lets it finish.
async fn serve_one(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stopping: &mut watch::Receiver<bool>,
) {
    let chosen = tokio::select! {
        chosen = tokio::time::timeout(limits.header_read_timeout, version_chosen(&stream)) => chosen,
        _ = stopping.changed() => return,
    };
    match chosen {
        Ok(true) => {}
        Ok(false) => return,
        Err(_) => {
            slow_client();
            return;
        }
    }
    let local = stream.local_addr().ok();
    let service = app.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(local) = local {
            request.extensions_mut().insert(LocalAddr(local));
        }
        request
    });
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            slow_client();
        } else {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}

/// Waits until the client has sent enough to tell HTTP/1 from HTTP/2 (a byte that differs from
/// the HTTP/2 preface, or the whole preface), without consuming it; false if it hung up first.
/// hyper-util's own detection has no timeout, so this bounds it.
async fn version_chosen(stream: &TcpStream) -> bool {
    let mut seen = [0u8; H2_PREFACE.len()];
    loop {
        let n = match stream.peek(&mut seen).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if n == seen.len() || seen[..n] != H2_PREFACE[..n] {
            return true;
        }
        // A prefix of the preface (only HTTP/2 clients send that): look again shortly. `peek`
        // would answer at once with the same bytes, and the caller's timeout bounds the wait.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn slow_client() {
    metrics::counter!("quotaplane_connections_closed_total", "reason" => "header_timeout")
        .increment(1);
}
