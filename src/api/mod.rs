//! The surfaces: each a translation between one vendor's wire format and the shared domain.

pub mod confluent;
pub mod datarobot;
pub mod native;
pub mod openapi;
pub mod openapi_constraints;
pub mod openapi_exact;
mod openapi_schemas;
pub mod waldur;
pub mod zitadel;

use axum::http::HeaderMap;

use crate::state::Settings;

/// The base of absolute links (`Location`, `self`): the configured public URL, else what
/// [`crate::http::links`] resolved for the request (never a client's unchecked `Host`).
pub fn base_url(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(crate::http::links::LINK_BASE)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| "http://localhost".to_owned(), str::to_owned)
}
