//! Request bodies and query strings, read so that a bad one names the exact field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::domain::Error;
use crate::http::error::{ApiError, Failure};

/// A JSON body. Malformed JSON is a [`Failure::Malformed`]; JSON of the wrong shape is an
/// [`Error::Invalid`] whose field is the JSON pointer of the offending value.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Failure::PayloadTooLarge)
            } else {
                ApiError(Failure::Malformed(
                    "the request body could not be read".into(),
                ))
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses `bytes` as `T`, naming the field that does not fit. A whole number written with a
/// fraction (`5.0`) is the integer JSON Schema says it is: when the first reading fails on a
/// float, the body is read again with such numbers made integers (off the hot path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = serde_path_to_error::deserialize(&mut de);
    match first {
        Ok(value) => Ok(value),
        Err(err)
            if err
                .inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(mut value) => {
                    integral_floats_to_integers(&mut value);
                    serde_path_to_error::deserialize(value).map_err(|e| {
                        let message = e.inner().to_string();
                        let pointer = pointer_of(e.path(), &message);
                        ApiError(Failure::Domain(Error::invalid_body(
                            pointer,
                            clean(&message),
                        )))
                    })
                }
                Err(_) => Err(rejection(bytes, err)),
            }
        }
        Err(err) => Err(rejection(bytes, err)),
    }
}

/// Numbers such as `5.0` become `5`, everywhere in `value`.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = f as i64;
                    *value = Value::from(whole);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// The rejection of a body that did not parse as `T`.
fn rejection(bytes: &[u8], err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = err.inner();
    // A wrong shape is only reported as such when the whole body is well-formed JSON:
    // `[1,` is malformed, even though its first token already has the wrong type.
    let well_formed = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    if inner.is_data() && well_formed() {
        let message = inner.to_string();
        let pointer = pointer_of(err.path(), &message);
        ApiError(Failure::Domain(Error::invalid_body(
            pointer,
            clean(&message),
        )))
    } else {
        ApiError(Failure::Malformed(format!("malformed JSON: {inner}")))
    }
}

/// The JSON pointer of a serde path, with the missing field appended when serde names one.
fn pointer_of(path: &serde_path_to_error::Path, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape(variant))),
            Segment::Unknown => {}
        }
    }
    if let Some(field) = missing_field(message) {
        pointer.push('/');
        pointer.push_str(&escape(field));
    }
    pointer
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// serde's message without its " at line 1 column 7" suffix.
fn clean(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string read into `T`; a bad one is an [`Error::Invalid`] on the query.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let name = err.path().to_string();
                ApiError(Failure::Domain(Error::invalid_query(
                    if name == "." { "query".into() } else { name },
                    clean(&err.inner().to_string()),
                )))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Field;

    #[derive(Debug, serde::Deserialize)]
    struct Amount {
        amount: i64,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_an_integer_and_a_fraction_is_not() {
        let read: Amount = parse_json(br#"{"amount": 5.0}"#)
            .map_err(|_| ())
            .expect("5.0 is 5");
        assert_eq!(read.amount, 5);
        let refused = parse_json::<Amount>(br#"{"amount": 5.5}"#)
            .err()
            .map(|e| e.0);
        assert!(
            matches!(&refused, Some(Failure::Domain(Error::Invalid { field: Field::Body(p), .. })) if p == "/amount"),
            "{refused:?}"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        spec: Spec,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Spec {
        display_name: String,
        roles: Vec<u8>,
    }

    fn field_of(json: &str) -> Option<String> {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError(Failure::Domain(Error::Invalid {
                field: Field::Body(p),
                ..
            }))) => Some(p),
            _ => None,
        }
    }

    #[test]
    fn a_missing_field_is_pointed_at() {
        assert_eq!(
            field_of(r#"{"spec":{"roles":[]}}"#).as_deref(),
            Some("/spec/display_name")
        );
    }

    #[test]
    fn a_wrong_type_is_pointed_at_with_its_index() {
        assert_eq!(
            field_of(r#"{"spec":{"display_name":"a","roles":[1,"x"]}}"#).as_deref(),
            Some("/spec/roles/1")
        );
    }

    #[test]
    fn malformed_json_is_not_a_field_error() {
        for bad in [&b"{nope"[..], b"[1,", b"{\"spec\": 5"] {
            assert!(matches!(
                parse_json::<Body>(bad),
                Err(ApiError(Failure::Malformed(_)))
            ));
        }
    }
}
