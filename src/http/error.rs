//! Error rendering, built once: whatever layer fails (auth, rate limit, body limit, router,
//! handler, store), the response is marked with a [`Failure`], and [`render_errors`] writes it in
//! the envelope of the surface whose path prefix was called. A surface plugs in by implementing
//! [`Envelope`] and adding one row to [`SURFACES`].

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::Error;
use crate::http::request_id::RequestId;
use crate::http::stage::{Inner, Next, Stage};

/// What went wrong, as the HTTP layer sees it: a domain error, or a failure of HTTP itself.
#[derive(Debug, Clone)]
pub enum Failure {
    Domain(Error),
    /// No route matches the path.
    NoRoute,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The request took longer than the configured timeout.
    Timeout,
    /// The body is not well-formed JSON.
    Malformed(String),
    /// The tenant may not be served now: its request quota is exhausted, or its instance is
    /// blocked. Every surface answers as its vendor throttles a caller: 429, with `Retry-After`
    /// when the time to the period's end is known. Made by [`crate::http::metering::throttled`].
    Throttled {
        retry_after: Option<u64>,
        /// Why, in the words the native API and logs use.
        why: &'static str,
    },
}

impl Failure {
    /// The status most surfaces give this failure; an [`Envelope`] may choose another.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Domain(e) => match e {
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::AlreadyExists { .. } | Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::Invalid { field, .. } => match field {
                    crate::domain::Field::Body(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_REQUEST,
                },
                Error::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
                Error::QuotaExceeded { .. } | Error::RateLimited { .. } => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                Error::LimitReached { .. } => StatusCode::CONFLICT,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Failure::NoRoute => StatusCode::NOT_FOUND,
            Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Failure::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Malformed(_) => StatusCode::BAD_REQUEST,
            Failure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A message safe to show a client: internal details never leave the server.
    pub fn public_message(&self) -> String {
        match self {
            Failure::Domain(Error::Internal(_)) => "an internal error occurred".into(),
            Failure::Domain(e) => e.to_string(),
            Failure::NoRoute => "no such resource".into(),
            Failure::MethodNotAllowed => "method not allowed on this resource".into(),
            Failure::PayloadTooLarge => "the request body is too large".into(),
            Failure::Timeout => "the request took too long".into(),
            Failure::Malformed(m) => m.clone(),
            Failure::Throttled { why, .. } => (*why).into(),
        }
    }

    /// Seconds after which a retry could succeed, when known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Failure::Domain(Error::RateLimited { retry_after }) => Some(*retry_after),
            Failure::Domain(Error::QuotaExceeded { retry_after, .. }) => *retry_after,
            Failure::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The failure an unmarked error response stands for (from tower-http layers or the router).
    fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Failure::NoRoute,
            StatusCode::METHOD_NOT_ALLOWED => Failure::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Failure::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => Failure::Timeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
                Failure::Malformed("the request is malformed".into())
            }
            _ => Failure::Domain(Error::Internal(format!("unmarked {status} response"))),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Domain(e)
    }
}

/// What a handler or layer returns on failure: a response marked for [`render_errors`].
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl<E: Into<Failure>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.0.status().into_response();
        response.extensions_mut().insert(Arc::new(self.0));
        response
    }
}

/// Marks a response whose error status is its answer, not a failure (a refused usage decision
/// carries its own body with status 429); [`render_errors`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct Deliberate;

/// What an envelope may need to know of the request.
pub struct ErrorContext<'a> {
    pub request_id: &'a str,
    pub path: &'a str,
}

/// One surface's way of writing failures.
pub trait Envelope: Send + Sync {
    /// The whole response for `failure`: status, headers (such as `WWW-Authenticate`) and body.
    fn render(&self, failure: &Failure, ctx: &ErrorContext<'_>) -> Response;
}

/// Which envelope serves which path prefix; the first match wins, the native API is the default.
pub static SURFACES: &[(&str, &dyn Envelope)] = &[
    (crate::api::waldur::PREFIX, &crate::api::waldur::Drf),
    ("/system/v1/", &crate::api::zitadel::ZitadelStatus),
    ("/kafka-quotas/", &crate::api::confluent::ConfluentFailure),
    ("/service-quota/", &crate::api::confluent::ConfluentFailure),
    ("/api/v2/", &crate::api::datarobot::DataRobotEnvelope),
];

fn envelope_for(path: &str) -> &'static dyn Envelope {
    SURFACES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(&crate::api::native::ProblemJson, |(_, envelope)| *envelope)
}

/// The outer layer that writes every failure in its surface's envelope. Headers already set by
/// inner layers (rate-limit headers, `Location`) are kept.
#[derive(Clone, Copy)]
pub struct RenderErrors;

impl Stage for RenderErrors {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        let path = request.uri().path().to_owned();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let response = next.run(request).await;
        let failure = match response.extensions().get::<Arc<Failure>>() {
            Some(failure) => failure.clone(),
            None if response.extensions().get::<Deliberate>().is_some() => return response,
            None if response.status().is_client_error() || response.status().is_server_error() => {
                Arc::new(Failure::from_status(response.status()))
            }
            None => return response,
        };
        if let Failure::Domain(Error::Internal(cause)) = failure.as_ref() {
            tracing::error!(request_id, cause, "internal error");
        }
        let (parts, _) = response.into_parts();
        let ctx = ErrorContext {
            request_id: &request_id,
            path: &path,
        };
        let mut rendered = envelope_for(&path).render(&failure, &ctx);
        for (name, value) in &parts.headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rendered.headers_mut().append(name.clone(), value.clone());
            }
        }
        if let Some(seconds) = failure.retry_after() {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                rendered.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        rendered.extensions_mut().insert(failure);
        rendered
    }
}
