//! Waldur's errors, as Django REST framework writes them: `{"detail": "..."}`, or
//! `{"<field>": ["..."]}` for invalid input; a 401 carries `WWW-Authenticate: Token`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::waldur::USER;
use crate::domain::{Credentials, Error, Field};
use crate::http::error::{Envelope, ErrorContext, Failure};

/// The Waldur envelope.
pub struct Drf;

/// The one mapping from a failure to Waldur's status and body.
fn table(failure: &Failure) -> (StatusCode, Value) {
    let detail = |status: StatusCode, text: &str| (status, json!({ "detail": text }));
    match failure {
        Failure::Domain(e) => match e {
            Error::Unauthenticated(Credentials::Missing) => detail(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            ),
            Error::Unauthenticated(Credentials::Invalid) => {
                detail(StatusCode::UNAUTHORIZED, "Invalid token.")
            }
            Error::Forbidden(m) => detail(StatusCode::FORBIDDEN, m),
            Error::NotFound(what) if *what == USER => {
                detail(StatusCode::NOT_FOUND, "User not found.")
            }
            Error::NotFound(_) => detail(StatusCode::NOT_FOUND, "Not found."),
            Error::Invalid { field, message } => (
                StatusCode::BAD_REQUEST,
                json!({ field_key(field): [message] }),
            ),
            Error::AlreadyExists { .. } | Error::Conflict { .. } => {
                detail(StatusCode::CONFLICT, &e.to_string())
            }
            Error::QuotaExceeded { message, .. } | Error::LimitReached { message } => {
                detail(StatusCode::CONFLICT, message)
            }
            Error::IdempotencyKeyReused => detail(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
            Error::RateLimited { retry_after } => detail(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Request was throttled. Expected available in {retry_after} second{}.",
                    if *retry_after == 1 { "" } else { "s" }
                ),
            ),
            Error::Unavailable(_) => detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable, try again later.",
            ),
            Error::Internal(_) => detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred.",
            ),
        },
        Failure::NoRoute => detail(StatusCode::NOT_FOUND, "Not found."),
        Failure::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
        Failure::PayloadTooLarge => {
            detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large.")
        }
        Failure::Timeout => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable, try again later.",
        ),
        Failure::Malformed(m) => detail(
            StatusCode::BAD_REQUEST,
            &format!(
                "JSON parse error - {}",
                m.trim_start_matches("malformed JSON: ")
            ),
        ),
    }
}

/// The key DRF lists a field's errors under: the body field, the query parameter, or
/// `non_field_errors` for the body as a whole.
fn field_key(field: &Field) -> String {
    match field {
        Field::Body(pointer) => match pointer.trim_start_matches('/').split('/').next() {
            Some(name) if !name.is_empty() => name.replace("~1", "/").replace("~0", "~"),
            _ => "non_field_errors".to_owned(),
        },
        other => other.name().to_owned(),
    }
}

impl Envelope for Drf {
    fn render(&self, failure: &Failure, _: &ErrorContext<'_>) -> Response {
        let (status, body) = table(failure);
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_listed_under_their_field() {
        let (status, body) = table(&Failure::Domain(Error::invalid_body(
            "/monthly_limit",
            "Ensure this value is greater than or equal to -1.",
        )));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"monthly_limit": ["Ensure this value is greater than or equal to -1."]})
        );
        let (_, body) = table(&Failure::Domain(Error::invalid_body("", "Invalid data.")));
        assert_eq!(body, json!({"non_field_errors": ["Invalid data."]}));
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let (status, body) = table(&Failure::Domain(Error::Internal("secret sql".into())));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret"));
    }
}
