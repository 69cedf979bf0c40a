//! A body past the limit is refused so that the client hears it. Answering and closing while the
//! client still sends its body leaves unread bytes, on which the kernel resets the connection: the
//! client, still writing, sees a broken pipe or a reset instead of the 413. So before answering,
//! the server reads and drops what remains of the refused body, within [`DRAIN_BYTES`] and
//! [`DRAIN_TIME`] (past them it closes anyway), as a web server's lingering close does.
//!
//! A body announced past the limit (`Content-Length`) is refused before any of it is read; one
//! that turns out past it while read (chunked) is refused by whatever reads it (the JSON body's
//! limit, `tower_http`'s [`RequestBodyLimitLayer`](tower_http::limit::RequestBodyLimitLayer))
//! and what remains of it is read here afterwards. A client that asked `Expect: 100-continue` has
//! sent nothing yet and is answered at once.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use futures_util::future::{Either, Map};
use tower::{Layer, Service};

/// Most bytes of a refused body read (and dropped) before the connection is closed anyway.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// Longest time spent reading a refused body.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The layer, with the limit in bytes. A tower layer of its own rather than a stage
/// (`http::stage`): every request passes here, and one whose body is of a length within the
/// limit goes straight on, its future not boxed.
#[derive(Clone, Copy)]
pub struct RefusePastLimitLayer(pub u64);

impl<S> Layer<S> for RefusePastLimitLayer {
    type Service = RefusePastLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefusePastLimit {
            inner,
            limit: self.0,
        }
    }
}

/// See [`RefusePastLimitLayer`].
#[derive(Clone)]
pub struct RefusePastLimit<S> {
    inner: S,
    limit: u64,
}

type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S, B> Service<Request> for RefusePastLimit<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        Map<S::Future, fn(Result<S::Response, Infallible>) -> Result<Response, Infallible>>,
        Boxed,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let answered: fn(Result<S::Response, Infallible>) -> Result<Response, Infallible> =
            |answer| answer.map(IntoResponse::into_response);
        match request.body().size_hint().exact() {
            // A body of known length cannot grow past it: hyper ends it there.
            Some(length) if length <= self.limit => {
                Either::Left(self.inner.call(request).map(answered))
            }
            Some(_) => Either::Right(Box::pin(async move {
                if !expects_continue(&request) {
                    drain(request.into_body()).await;
                }
                Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response())
            })),
            None => {
                // The clone that was made ready is the one to call.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                Either::Right(Box::pin(lend_body(ready, request)))
            }
        }
    }
}

/// Runs `inner` on a body of unknown length, lent: when the answer is 413, what remains of the
/// body is read before it goes out.
async fn lend_body<S, B>(mut inner: S, request: Request) -> Result<Response, Infallible>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (parts, body) = request.into_parts();
    let lent = Lent(Arc::new(Mutex::new(Some(body))));
    let slot = lent.0.clone();
    let response = inner
        .call(Request::from_parts(parts, Body::new(lent)))
        .await?
        .into_response();
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let rest = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(rest) = rest {
            drain(rest).await;
        }
    }
    Ok(response)
}

fn expects_continue(request: &Request) -> bool {
    request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads `body` to its end and drops it, unless it is longer than [`DRAIN_BYTES`] or takes
/// longer than [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let read = async {
        let mut left = DRAIN_BYTES;
        while let Some(Ok(frame)) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let read = frame.data_ref().map_or(0, |data| data.len() as u64);
            match left.checked_sub(read) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// A request body lent to the layers inside: whatever they leave of it is still here after.
struct Lent(Arc<Mutex<Option<Body>>>);

impl HttpBody for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().map(HttpBody::size_hint).unwrap_or_default()
    }
}
