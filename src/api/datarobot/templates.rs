//! `/api/v2/quotaTemplates/`: the quota templates a tenant sees (its own and the installation's),
//! read-only as in DataRobot; they are written through `/v1/quota-templates`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};

use super::dto::{PageQuery, QuotaTemplateListResponse, QuotaTemplateResponse};
use super::error::ErrorResponse;
use super::page_links;
use crate::domain::datarobot::Page;
use crate::domain::datarobot::service;
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::http::json::Query;
use crate::state::AppState;

/// The quota templates, a page at a time.
#[utoipa::path(get, path = "/api/v2/quotaTemplates/", tag = "datarobot", params(PageQuery),
    responses((status = 200, body = QuotaTemplateListResponse),
        (status = 422, body = ErrorResponse)))]
pub async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<QuotaTemplateListResponse>, ApiError> {
    let page = Page::parse(query.offset, query.limit)?;
    let (templates, total) = service::list_templates(&state.store, &caller, page).await?;
    let (next, previous) = page_links(
        &state,
        &headers,
        uri.path(),
        &[],
        page,
        templates.len(),
        total,
    );
    Ok(axum::Json(QuotaTemplateListResponse {
        count: templates.len(),
        data: templates.into_iter().map(Into::into).collect(),
        next,
        previous,
        total_count: total,
    }))
}

/// One quota template.
#[utoipa::path(get, path = "/api/v2/quotaTemplates/{quotaTemplateId}/", tag = "datarobot",
    params(("quotaTemplateId" = String, Path)),
    responses((status = 200, body = QuotaTemplateResponse), (status = 404, body = ErrorResponse)))]
pub async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<QuotaTemplateResponse>, ApiError> {
    let template = service::template(&state.store, &caller, &id).await?;
    Ok(axum::Json(template.into()))
}
