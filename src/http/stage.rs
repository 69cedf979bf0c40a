//! The shape of the shared layers: each is an async function of the request and of the rest of
//! the stack ([`Next`]), as with axum's `middleware::from_fn`, without what that costs on every
//! request. `from_fn` boxes the layer's future, boxes the rest of the stack into its `Next` and
//! boxes that one's future again, all per request: about 2,000 instructions a layer whatever the
//! layer does (callgrind; bench/README.md, eighth round), ten times over. Here `Next` holds the
//! rest of the stack as it is, and the one box is the layer's own future.
//!
//! Each stage keeps the rest of the stack behind an `Arc`, so what a request clones (and its
//! futures carry) is one stage's state and a pointer, not the whole stack below: a stack held by
//! value made every layer's future carry, and copy, everything beneath it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt};

/// What a stage runs the request through next: the rest of the stack.
pub trait Inner:
    Service<Request, Error = Infallible, Response: IntoResponse, Future: Send> + Clone + Send + 'static
{
}

impl<T> Inner for T where
    T: Service<Request, Error = Infallible, Response: IntoResponse, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// The rest of the stack, for one request.
pub struct Next<S>(S);

impl<S: Inner> Next<S> {
    /// Runs the request through the rest of the stack.
    pub async fn run(self, request: Request) -> Response {
        match self.0.oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        }
    }
}

/// One layer of the stack: what it does with a request, given what comes next. Its value (its
/// state: an `Arc` or nothing) is cloned for each request.
pub trait Stage: Clone + Send + Sync + 'static {
    fn run<S: Inner>(
        self,
        request: Request,
        next: Next<S>,
    ) -> impl Future<Output = Response> + Send + 'static;
}

/// The [`Layer`] of a stage.
#[derive(Clone)]
pub struct StageLayer<T>(pub T);

impl<T: Stage, S> Layer<S> for StageLayer<T> {
    type Service = Staged<T, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Staged {
            stage: self.0.clone(),
            inner: Arc::new(inner),
        }
    }
}

/// A stage over the rest of the stack.
#[derive(Clone)]
pub struct Staged<T, S> {
    stage: T,
    inner: Arc<S>,
}

impl<T: Stage, S: Inner + Sync> Service<Request> for Staged<T, S> {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// Always ready: [`Next::run`] waits for the rest of the stack to be.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let run = self.stage.clone().run(request, Next(S::clone(&self.inner)));
        Box::pin(async move { Ok(run.await) })
    }
}
