//! The surfaces: each a translation between one vendor's wire format and the shared domain.

pub mod confluent;
pub mod datarobot;
pub mod native;
pub mod openapi;
pub mod openapi_constraints;
pub mod openapi_exact;
pub mod waldur;
pub mod zitadel;

use axum::http::HeaderMap;
use axum::http::header::HOST;

use crate::app::Settings;

/// The base of absolute links (`Location`, `self`): the configured public URL, else
/// `http://<Host>` of the request.
pub fn base_url(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}
