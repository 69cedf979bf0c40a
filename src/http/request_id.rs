//! `X-Request-Id`: kept when the caller sent a well-formed one, else a new UUID; always answered.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use crate::http::stage::{Inner, Next, Stage};

/// The header's name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Whether a caller's id is safe to keep: 1 to 128 visible ASCII letters, digits and `-_.:`.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The layer: sets the id on the request and on the response.
#[derive(Clone, Copy)]
pub struct RequestIds;

impl Stage for RequestIds {
    async fn run<S: Inner>(self, mut request: Request, next: Next<S>) -> Response {
        let id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| well_formed(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        request.extensions_mut().insert(RequestId(id.clone()));
        let mut response = next.run(request).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(well_formed("abc-123_x.y:z"));
        assert!(!well_formed(""));
        assert!(!well_formed("has space"));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
