//! Waldur's errors, as Django REST framework writes them: `{"detail": "..."}`, or
//! `{"<field>": ["..."]}` for invalid input; a 401 carries `WWW-Authenticate: Token`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::waldur::USER;
use crate::domain::{Credentials, Error, Field};
use crate::http::error::{ApiError, Deliberate, Envelope, ErrorContext, Failure};

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
                &throttled(Some(*retry_after)),
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
        Failure::Throttled { retry_after, .. } => {
            detail(StatusCode::TOO_MANY_REQUESTS, &throttled(*retry_after))
        }
        Failure::Malformed(m) if m.starts_with(super::body::PREFIX) => {
            detail(StatusCode::BAD_REQUEST, m)
        }
        Failure::Malformed(m) => detail(
            StatusCode::BAD_REQUEST,
            &format!(
                "JSON parse error - {}",
                m.trim_start_matches("malformed JSON: ")
            ),
        ),
    }
}

/// DRF's `Throttled` detail, with the wait when it is known.
fn throttled(retry_after: Option<u64>) -> String {
    match retry_after {
        Some(1) => "Request was throttled. Expected available in 1 second.".into(),
        Some(n) => format!("Request was throttled. Expected available in {n} seconds."),
        None => "Request was throttled.".into(),
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

/// A 400 that lists every invalid field under its key, in the order given (the serializer's),
/// as DRF does; the keys keep that order in the body. Anything but field errors is answered as
/// the failure it is.
pub fn invalid_fields(errors: Vec<Error>) -> Response {
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    for error in errors {
        let Error::Invalid { field, message } = error else {
            return ApiError::from(error).into_response();
        };
        let key = field_key(&field);
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, messages)) => messages.push(message),
            None => fields.push((key, vec![message])),
        }
    }
    let members: Vec<String> = fields
        .iter()
        .map(|(key, messages)| format!("{}:{}", Value::from(key.as_str()), json!(messages)))
        .collect();
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{{}}}", members.join(",")),
    )
        .into_response();
    response.extensions_mut().insert(Deliberate);
    response
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
