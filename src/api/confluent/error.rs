//! Confluent's error envelope (`Failure`):
//! `{"errors":[{"id","status","code","title","detail","source":{"pointer"|"parameter"}}]}`, with
//! `status` as a string. [`describe`] is the one table from failures to Confluent's status, code
//! and title; it serves every `/kafka-quotas/` and `/service-quota/` path.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::links::Links;
use crate::domain::{Credentials, Error, Field};
use crate::http::error::{ApiError, Envelope, ErrorContext, Failure};

/// The envelope of the Confluent surfaces.
pub struct ConfluentFailure;

/// The body of every Confluent error (`Failure`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Failure)]
pub struct FailureBody {
    pub errors: Vec<ErrorObject>,
}

/// One error (`Error`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorObject {
    /// A fresh identifier of this occurrence.
    pub id: String,
    /// The HTTP status, as a string.
    pub status: String,
    /// A stable application code, such as `invalid_configuration`.
    pub code: String,
    pub title: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

/// What in the request caused the error (`Error_source`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error_source)]
pub struct ErrorSource {
    /// A JSON pointer into the request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// A query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// The query parameters that filter a list: a bad one is an `invalid_filter`.
const FILTERS: &[&str] = &[
    "spec.cluster",
    "environment",
    "scope",
    "network",
    "kafka_cluster",
    "identity_provider",
    "certificate_authority",
    "service_account",
    "user",
    "id",
];

/// The one mapping table: status, code and title of each failure.
pub fn describe(failure: &Failure) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match failure {
        Failure::Domain(e) => match e {
            Error::NotFound(_) => (S::NOT_FOUND, "not_found", "Not Found"),
            Error::AlreadyExists { .. } | Error::Conflict { .. } => (
                S::CONFLICT,
                "resource_already_exists",
                "Resource Already Exists",
            ),
            Error::Invalid {
                field: Field::Body(_),
                ..
            }
            | Error::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "invalid_configuration",
                "Validation Failed",
            ),
            Error::Invalid {
                field: Field::Query(name),
                ..
            } if FILTERS.contains(&name.as_str()) => {
                (S::BAD_REQUEST, "invalid_filter", "Invalid Filter")
            }
            Error::Invalid { .. } => (S::BAD_REQUEST, "invalid_parameter", "Invalid Parameter"),
            Error::QuotaExceeded { .. } => {
                (S::TOO_MANY_REQUESTS, "quota_exceeded", "Quota Exceeded")
            }
            Error::LimitReached { .. } => (S::PAYMENT_REQUIRED, "quota_exceeded", "Quota Exceeded"),
            Error::RateLimited { .. } => THROTTLED,
            Error::Forbidden(_) => (
                S::FORBIDDEN,
                "user_unauthorized",
                "User Access Unauthorized",
            ),
            Error::Unauthenticated(_) => (
                S::UNAUTHORIZED,
                "user_unauthenticated",
                "Authentication Required",
            ),
            Error::Unavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service Unavailable",
            ),
            Error::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                "Internal Server Error",
            ),
        },
        Failure::NoRoute => (S::NOT_FOUND, "not_found", "Not Found"),
        Failure::MethodNotAllowed => (
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
        ),
        Failure::PayloadTooLarge => (
            S::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload Too Large",
        ),
        Failure::Timeout => (
            S::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service Unavailable",
        ),
        Failure::Malformed(_) => (S::BAD_REQUEST, "malformed_request", "Malformed Request"),
        Failure::Throttled { .. } => THROTTLED,
    }
}

/// How Confluent throttles a caller (a key past its rate, or a tenant out of requests); its own
/// resource quotas (`LimitReached`) are a 402 instead.
const THROTTLED: (StatusCode, &str, &str) = (
    StatusCode::TOO_MANY_REQUESTS,
    "too_many_requests",
    "Rate Limit Exceeded",
);

/// The `detail` of `failure`: a throttled tenant is told when to retry, in Confluent's words.
fn detail(failure: &Failure) -> String {
    match failure {
        Failure::Throttled {
            retry_after: Some(seconds),
            ..
        } => format!("Too many requests: retry after {seconds} seconds"),
        Failure::Throttled {
            retry_after: None, ..
        } => "Too many requests: retry later".into(),
        other => other.public_message(),
    }
}

fn source(failure: &Failure) -> Option<ErrorSource> {
    match failure {
        Failure::Domain(Error::Invalid { field, .. }) => Some(match field {
            Field::Body(pointer) => ErrorSource {
                pointer: Some(pointer.clone()),
                parameter: None,
            },
            other => ErrorSource {
                pointer: None,
                parameter: Some(other.name().to_owned()),
            },
        }),
        _ => None,
    }
}

impl Envelope for ConfluentFailure {
    fn render(&self, failure: &Failure, _: &ErrorContext<'_>) -> Response {
        let (status, code, title) = describe(failure);
        let body = FailureBody {
            errors: vec![ErrorObject {
                id: uuid::Uuid::new_v4().to_string(),
                status: status.as_u16().to_string(),
                code: code.into(),
                title: title.into(),
                detail: detail(failure),
                source: source(failure),
            }],
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match failure {
                Failure::Domain(Error::Unauthenticated(Credentials::Invalid)) => {
                    "Basic realm=\"quotaplane\", error=\"invalid_key\", \
                     error_description=\"The API Key is invalid\""
                }
                _ => "Basic realm=\"quotaplane\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The response to a failed call: the failure, marked for the renderer, and for a conflict with
/// another client quota a `Location` naming it (the renderer keeps headers set here).
pub fn reject(links: &Links, error: Error) -> Response {
    let location = match &error {
        Error::Conflict {
            existing: Some(id), ..
        } => HeaderValue::from_str(&links.client_quota(id)).ok(),
        _ => None,
    };
    let mut response = ApiError::from(error).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
