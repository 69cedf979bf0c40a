//! The DataRobot surface: `/api/v2/quotas/` and `/api/v2/quotaTemplates/`, Bearer auth,
//! camelCase JSON, `{"message": ...}` errors, `offset`/`limit` pages with absolute
//! `next`/`previous` links. Every path answers with and without its trailing slash.

pub mod dto;
pub mod error;
mod quotas;
mod templates;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::domain::datarobot::Page;
use crate::state::AppState;

pub use error::{DataRobotEnvelope, ErrorResponse};
pub use quotas::*;
pub use templates::*;

/// The routes, each with and without the trailing slash DataRobot writes.
pub fn router() -> Router<AppState> {
    let quotas = get(quotas::list_quotas).post(quotas::create_quota);
    let quota = get(quotas::get_quota)
        .patch(quotas::update_quota)
        .delete(quotas::delete_quota);
    let templates = get(templates::list_templates);
    let template = get(templates::get_template);
    Router::new()
        .route("/api/v2/quotas", quotas.clone())
        .route("/api/v2/quotas/", quotas)
        .route("/api/v2/quotas/{quota_id}", quota.clone())
        .route("/api/v2/quotas/{quota_id}/", quota)
        .route("/api/v2/quotaTemplates", templates.clone())
        .route("/api/v2/quotaTemplates/", templates)
        .route(
            "/api/v2/quotaTemplates/{quota_template_id}",
            template.clone(),
        )
        .route("/api/v2/quotaTemplates/{quota_template_id}/", template)
}

/// The absolute `next` and `previous` links of a page: the same path and query, with `offset`
/// and `limit` replaced.
fn page_links(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    filters: &[(&str, Option<&str>)],
    page: Page,
    shown: usize,
    total: i64,
) -> (Option<String>, Option<String>) {
    let base = crate::api::base_url(&state.settings, headers);
    let link = |offset: i64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in filters {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        query.append_pair("offset", &offset.to_string());
        query.append_pair("limit", &page.limit.to_string());
        format!("{base}{path}?{}", query.finish())
    };
    let shown = i64::try_from(shown).unwrap_or(i64::MAX);
    let end = page.offset.saturating_add(shown);
    let next = (shown > 0 && end < total).then(|| link(end));
    let previous = (page.offset > 0).then(|| link((page.offset - page.limit).max(0)));
    (next, previous)
}
