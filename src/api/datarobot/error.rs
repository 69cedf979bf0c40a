//! DataRobot's error envelope: `{"message": ...}`, and for invalid input
//! `{"message": ..., "errors": {"<field path>": "<what is wrong>"}}`, with the one table that
//! maps every failure to DataRobot's status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{Error, Field};
use crate::http::error::{Envelope, ErrorContext, Failure};

/// DataRobot's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub message: String,
    /// Invalid input: each offending field's path (`defaultRules.0.limit`) and what is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub errors: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The envelope of everything under `/api/v2/`.
pub struct DataRobotEnvelope;

/// The status DataRobot gives each failure: invalid input of any kind is a 422, malformed JSON
/// a 400; the rest as every surface.
fn status(failure: &Failure) -> StatusCode {
    match failure {
        Failure::Domain(Error::Invalid { .. } | Error::IdempotencyKeyReused) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Failure::Domain(Error::NotFound(_)) | Failure::NoRoute => StatusCode::NOT_FOUND,
        Failure::Domain(Error::AlreadyExists { .. } | Error::Conflict { .. }) => {
            StatusCode::CONFLICT
        }
        Failure::Malformed(_) => StatusCode::BAD_REQUEST,
        other => other.status(),
    }
}

/// A JSON pointer as DataRobot names fields: `/defaultRules/0/limit` -> `defaultRules.0.limit`.
pub fn field_path(field: &Field) -> String {
    match field {
        Field::Body(pointer) => {
            let path = pointer
                .trim_start_matches('/')
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect::<Vec<_>>()
                .join(".");
            if path.is_empty() { "body".into() } else { path }
        }
        other => other.name().to_owned(),
    }
}

impl Envelope for DataRobotEnvelope {
    fn render(&self, failure: &Failure, _: &ErrorContext<'_>) -> Response {
        let status = status(failure);
        let body = match failure {
            Failure::Domain(Error::Invalid { field, message }) => {
                let path = field_path(field);
                let mut errors = serde_json::Map::new();
                errors.insert(path.clone(), message.clone().into());
                ErrorResponse {
                    message: format!("{path}: {message}"),
                    errors: Some(errors),
                }
            }
            Failure::NoRoute => ErrorResponse {
                message: "Not found".into(),
                errors: None,
            },
            Failure::Throttled { retry_after, .. } => ErrorResponse {
                message: match retry_after {
                    Some(seconds) => format!("Too many requests. Retry after {seconds} seconds."),
                    None => "Too many requests. Retry later.".into(),
                },
                errors: None,
            },
            other => ErrorResponse {
                message: other.public_message(),
                errors: None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"quotaplane\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(
            field_path(&Field::Body("/defaultRules/0/limit".into())),
            "defaultRules.0.limit"
        );
        assert_eq!(field_path(&Field::Body(String::new())), "body");
        assert_eq!(field_path(&Field::Query("limit".into())), "limit");
    }

    #[test]
    fn invalid_input_is_422_and_malformed_json_400() {
        let invalid = Failure::Domain(Error::invalid_query("limit", "bad"));
        assert_eq!(status(&invalid), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(&Failure::Malformed("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&Failure::Domain(Error::RateLimited { retry_after: 1 })),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
