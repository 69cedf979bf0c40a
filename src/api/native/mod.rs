//! The native API (`/v1/...`, probes, metrics, the OpenAPI document): snake_case JSON and
//! problem+json errors (RFC 9457).

mod deployments;
mod effective;
mod health;
mod limit_body;
mod limits;
mod paging;
mod templates;
mod tenants;
mod test_clock;
mod usage;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Serialize;

use crate::domain::{Error, Field};
use crate::http::error::{Envelope, ErrorContext, Failure};
use crate::http::ratelimit_headers::{KEY_REQUESTS, QUOTA_EXCEEDED};
use crate::state::AppState;

pub use deployments::*;
pub use effective::*;
pub use health::*;
pub use limits::*;
pub use templates::*;
pub use tenants::*;
pub use test_clock::*;
pub use usage::*;

/// The native routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .route("/v1/whoami", get(tenants::whoami))
        .route(
            "/v1/tenants",
            post(tenants::create_tenant).get(tenants::list_tenants),
        )
        .route("/v1/tenants/{tenant_id}", get(tenants::get_tenant))
        .route(
            "/v1/tenants/{tenant_id}/api-keys",
            post(tenants::create_key).get(tenants::list_keys),
        )
        .route(
            "/v1/tenants/{tenant_id}/api-keys/{key_id}",
            delete(tenants::revoke_key),
        )
        .route(
            "/v1/tenants/{tenant_id}/limits",
            get(limits::list_tenant_limits),
        )
        .route(
            "/v1/tenants/{tenant_id}/limits/{id}",
            put(limits::put_tenant_limit)
                .get(limits::get_tenant_limit)
                .delete(limits::delete_tenant_limit),
        )
        .route("/v1/usage/check", post(usage::check))
        .route("/v1/usage/consume", post(usage::consume))
        .route("/v1/usage/report", post(usage::report))
        .route("/v1/leases", post(usage::acquire))
        .route("/v1/leases/{id}", delete(usage::release))
        .route("/v1/limits", get(limits::list_limits))
        .route("/v1/limits/effective", get(effective::effective))
        .route(
            "/v1/limits/{id}",
            put(limits::put_limit)
                .get(limits::get_limit)
                .delete(limits::delete_limit),
        )
        .route("/v1/quota-templates", post(templates::create_template))
        .route(
            "/v1/quota-templates/{id}",
            put(templates::replace_template).delete(templates::delete_template),
        )
        .route(
            "/v1/test-clock",
            get(test_clock::read_clock).post(test_clock::move_clock),
        )
        .route("/v1/test-reset", post(test_clock::reset))
        .route(
            "/v1/datarobot/deployments/{deployment_id}/calls",
            post(deployments::admit),
        )
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`, or for a 429 the IETF `quota-exceeded` type: the status and `code` say
    /// what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The path that was called.
    pub instance: String,
    /// A stable machine-readable code, such as `not_found` or `invalid`.
    pub code: &'static str,
    pub request_id: String,
    /// For invalid input: which field, and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For `quota-exceeded`: the policies (as named in `RateLimit-Policy`) that refused.
    #[serde(rename = "violated-policies", skip_serializing_if = "Vec::is_empty")]
    pub violated_policies: Vec<String>,
}

/// One invalid field of a problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// A JSON pointer into the body, when the field is in the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The name of the query parameter, path segment or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub detail: String,
}

/// The native envelope: `application/problem+json`.
pub struct ProblemJson;

impl ProblemJson {
    fn code(failure: &Failure) -> &'static str {
        match failure {
            Failure::Domain(e) => match e {
                Error::NotFound(_) => "not_found",
                Error::AlreadyExists { .. } => "already_exists",
                Error::Conflict { .. } => "conflict",
                Error::Invalid { .. } => "invalid",
                Error::IdempotencyKeyReused => "idempotency_key_reused",
                Error::QuotaExceeded { .. } | Error::LimitReached { .. } => "quota_exceeded",
                Error::Forbidden(_) => "forbidden",
                Error::Unauthenticated(_) => "unauthenticated",
                Error::RateLimited { .. } => "rate_limited",
                Error::Unavailable(_) => "unavailable",
                Error::Internal(_) => "internal",
            },
            Failure::NoRoute => "not_found",
            Failure::MethodNotAllowed => "method_not_allowed",
            Failure::PayloadTooLarge => "payload_too_large",
            Failure::Timeout => "timeout",
            Failure::Malformed(_) => "malformed",
            Failure::Throttled { .. } => "quota_exceeded",
        }
    }
}

impl Envelope for ProblemJson {
    fn render(&self, failure: &Failure, ctx: &ErrorContext<'_>) -> Response {
        let status = failure.status();
        let errors = match failure {
            Failure::Domain(Error::Invalid { field, message }) => vec![ProblemField {
                pointer: matches!(field, Field::Body(_)).then(|| field.name().to_owned()),
                parameter: (!matches!(field, Field::Body(_))).then(|| field.name().to_owned()),
                detail: message.clone(),
            }],
            _ => Vec::new(),
        };
        let (kind, violated_policies) = match failure {
            Failure::Domain(Error::RateLimited { .. }) => {
                (QUOTA_EXCEEDED, vec![KEY_REQUESTS.into()])
            }
            Failure::Domain(Error::QuotaExceeded { .. }) => (QUOTA_EXCEEDED, Vec::new()),
            _ => ("about:blank", Vec::new()),
        };
        let problem = Problem {
            kind,
            violated_policies,
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: failure.public_message(),
            instance: ctx.path.to_owned(),
            code: Self::code(failure),
            request_id: ctx.request_id.to_owned(),
            errors,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == axum::http::StatusCode::UNAUTHORIZED {
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"quotaplane\""),
            );
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"quotaplane\""),
            );
        }
        response
    }
}
