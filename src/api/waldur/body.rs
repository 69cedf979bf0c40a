//! Reading a `set_quota` body the way Django REST framework's default parsers do: JSON, a
//! form (`application/x-www-form-urlencoded`) or `multipart/form-data`. A form's fields become
//! the JSON object DRF's serializer would see: the last value of a repeated field wins, and an
//! empty value of a nullable field (a limit) is `null`.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::domain::waldur::Period;
use crate::http::error::{ApiError, Failure};
use crate::http::json::parse_json;

/// How the body is encoded, from its `Content-Type`.
enum Encoding {
    Json,
    Form,
    Multipart,
}

fn encoding(request: &Request) -> Encoding {
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Encoding::Form,
        "multipart/form-data" => Encoding::Multipart,
        _ => Encoding::Json,
    }
}

/// The body as a JSON value; an empty JSON body is an empty object (DRF's `{}`).
pub async fn read(request: Request) -> Result<Value, ApiError> {
    match encoding(&request) {
        Encoding::Json => {
            let bytes = bytes(request).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                Ok(Value::Object(Map::new()))
            } else {
                parse_json(&bytes)
            }
        }
        Encoding::Form => {
            let bytes = bytes(request).await?;
            Ok(fields(
                form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
            ))
        }
        Encoding::Multipart => {
            let malformed =
                |e: &dyn std::fmt::Display| ApiError(Failure::Malformed(format!("{PREFIX}{e}")));
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|e| malformed(&e.body_text()))?;
            let mut pairs = Vec::new();
            while let Some(field) = multipart.next_field().await.map_err(|e| malformed(&e))? {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field.text().await.map_err(|e| malformed(&e))?;
                pairs.push((name, value));
            }
            Ok(fields(pairs))
        }
    }
}

/// How a multipart body that cannot be read is reported (DRF's words).
pub const PREFIX: &str = "Multipart form parse error - ";

async fn bytes(request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Failure::PayloadTooLarge)
            } else {
                ApiError(Failure::Malformed(
                    "the request body could not be read".into(),
                ))
            }
        })
}

/// Form fields as the object the serializer reads.
fn fields(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    let nullable = |name: &str| Period::ALL.iter().any(|p| p.limit_field() == name);
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = if value.is_empty() && nullable(&name) {
            Value::Null
        } else {
            Value::String(value)
        };
        object.insert(name, value);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_fields_read_as_drf_reads_them() {
        let pairs = [
            ("user_uuid", "u"),
            ("daily_limit", "5"),
            ("daily_limit", "7"),
            ("weekly_limit", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            fields(pairs),
            json!({"user_uuid": "u", "daily_limit": "7", "weekly_limit": null})
        );
    }
}
