//! Paged native lists on the wire: `?limit=` and `?cursor=` in, the bare JSON array out (as
//! before paging, so existing clients keep working) with the next page's URL in a
//! `Link: <…>; rel="next"` header (RFC 8288).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::domain::Result;
use crate::domain::page::{PageRequest, Paged};
use crate::state::Settings;

/// The paging parameters of a native list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Most items in the page (default 100, at most 1000). A list filtered by what the caller
    /// may see can hold fewer items than this and still have a next page: follow `Link`
    /// until it is absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Where the page starts: copied from the previous page's `Link: <…>; rel="next"`; opaque.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The domain's request; a bad limit or cursor is a 400 naming the parameter.
    pub fn request(&self) -> Result<PageRequest> {
        PageRequest::parse(self.limit.as_deref(), self.cursor.as_deref())
    }
}

/// A page as the bare array of its items, with `Link` to the next one when there is one.
pub fn respond<T: Serialize>(
    settings: &Settings,
    headers: &HeaderMap,
    uri: &Uri,
    request: &PageRequest,
    page: Paged<T>,
) -> Response {
    let mut response = Json(page.items).into_response();
    if let Some(next) = page.next {
        // The list's other parameters (its filters) carry over to the next page as given.
        let kept: String = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("limit=") && !p.starts_with("cursor="))
            .map(|p| format!("&{p}"))
            .collect();
        let link = format!(
            "<{}{}?limit={}&cursor={}{kept}>; rel=\"next\"",
            crate::api::base_url(settings, headers),
            uri.path(),
            request.limit,
            next.encode()
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}
