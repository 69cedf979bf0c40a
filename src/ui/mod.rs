//! `/ui`: a read-only page over the native API (limits with usage bars and reset countdowns, a
//! history chart, recent alerts, the audit log), embedded at build time: no build step, no CDN,
//! no framework. The page itself is public (it holds no data); it calls the API with a key the
//! user pastes, kept in the tab's session storage and sent as `Authorization: Bearer`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The page's paths (public: the auth layer lets them through).
pub const PATHS: [&str; 3] = ["/ui", "/ui/app.js", "/ui/app.css"];

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Scripts, styles and calls from this origin only; no inline script or style, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                      frame-ancestors 'none'";

/// The page's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            PATHS[0],
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            PATHS[1],
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            PATHS[2],
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_handler_and_no_remote_asset() {
        for (name, text) in [("index.html", INDEX), ("app.js", SCRIPT)] {
            assert!(
                !text.contains("onclick=") && !text.contains("onload="),
                "{name}"
            );
            assert!(!text.contains("http://") || name == "app.js", "{name}");
            assert!(!text.contains("https://"), "{name}: no CDN");
            assert!(
                !text.contains("innerHTML"),
                "{name}: data is never parsed as HTML"
            );
        }
        assert!(!INDEX.contains("<script>"), "no inline script");
        assert!(!INDEX.contains("style="), "no inline style");
    }
}
