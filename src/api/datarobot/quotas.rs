//! `/api/v2/quotas/`: list, create, read, update and delete DataRobot quotas.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

use super::dto::{QuotaCreate, QuotaListQuery, QuotaListResponse, QuotaResponse, QuotaUpdate};
use super::error::ErrorResponse;
use super::page_links;
use crate::domain::audit::Actor;
use crate::domain::datarobot::service::{self, NewQuota, QuotaChanges};
use crate::domain::datarobot::{Page, QuotaFilter};
use crate::domain::principal::Caller;
use crate::domain::{Error, Result};
use crate::http::error::ApiError;
use crate::http::json::{Json, Query};
use crate::state::AppState;

/// The tenant's quotas, a page at a time, optionally of one resource.
#[utoipa::path(get, path = "/api/v2/quotas/", tag = "datarobot", params(QuotaListQuery),
    responses((status = 200, body = QuotaListResponse), (status = 401, body = ErrorResponse),
        (status = 422, body = ErrorResponse)))]
pub async fn list_quotas(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<QuotaListQuery>,
) -> Result<axum::Json<QuotaListResponse>, ApiError> {
    let page = Page::parse(query.offset, query.limit)?;
    let filter = QuotaFilter {
        resource_type: query.resource_type,
        resource_id: query.resource_id,
    };
    let (quotas, total) = service::list_quotas(&state.store, &caller, &filter, page).await?;
    let filters = [
        ("resourceId", filter.resource_id.as_deref()),
        ("resourceType", filter.resource_type.as_deref()),
    ];
    let (next, previous) = page_links(
        &state,
        &headers,
        uri.path(),
        &filters,
        page,
        quotas.len(),
        total,
    );
    Ok(axum::Json(QuotaListResponse {
        count: quotas.len(),
        data: quotas.into_iter().map(Into::into).collect(),
        next,
        previous,
        total_count: total,
    }))
}

/// Creates the quota of a resource: 201, or 409 naming the quota the resource already has.
#[utoipa::path(post, path = "/api/v2/quotas/", tag = "datarobot", request_body = QuotaCreate,
    responses((status = 201, body = QuotaResponse), (status = 400, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse),
        (status = 422, body = ErrorResponse)))]
pub async fn create_quota(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<QuotaCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewQuota {
        resource_type: body.resource_type,
        resource_id: body.resource_id,
        default_rules: body.default_rules,
        template_id: body.template_id,
        policies: body.policies.unwrap_or_default(),
        capacity: body.capacity,
        saturation_threshold: body.saturation_threshold,
    };
    let quota = service::create_quota(
        &state.store,
        &state.engine,
        &caller,
        &Actor::of(&caller),
        new,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(QuotaResponse::from(quota))))
}

/// One quota.
#[utoipa::path(get, path = "/api/v2/quotas/{quotaId}/", tag = "datarobot",
    params(("quotaId" = String, Path)),
    responses((status = 200, body = QuotaResponse), (status = 404, body = ErrorResponse)))]
pub async fn get_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<QuotaResponse>, ApiError> {
    let quota = service::quota(&state.store, &caller, &id).await?;
    Ok(axum::Json(quota.into()))
}

/// Changes a quota: every field is optional, and a field present replaces the old value.
#[utoipa::path(patch, path = "/api/v2/quotas/{quotaId}/", tag = "datarobot",
    params(("quotaId" = String, Path)), request_body = QuotaUpdate,
    responses((status = 200, body = QuotaResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn update_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<QuotaUpdate>,
) -> Result<axum::Json<QuotaResponse>, ApiError> {
    let changes = QuotaChanges {
        default_rules: not_null(body.default_rules, "/defaultRules")?,
        policies: not_null(body.policies, "/policies")?,
        capacity: body.capacity,
        saturation_threshold: body.saturation_threshold,
    };
    let now = state.clock.now();
    let quota = service::update_quota(
        &state.store,
        &state.engine,
        &caller,
        &Actor::of(&caller),
        &id,
        changes,
        now,
    )
    .await?;
    Ok(axum::Json(quota.into()))
}

/// A list field may be left out of a PATCH, not set to null.
fn not_null<T>(field: Option<Option<T>>, pointer: &str) -> Result<Option<T>> {
    match field {
        Some(None) => Err(Error::invalid_body(pointer, "must be a list, not null")),
        Some(Some(value)) => Ok(Some(value)),
        None => Ok(None),
    }
}

/// Deletes a quota and the limits it enforced.
#[utoipa::path(delete, path = "/api/v2/quotas/{quotaId}/", tag = "datarobot",
    params(("quotaId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
pub async fn delete_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let actor = Actor::of(&caller);
    service::delete_quota(&state.store, &state.engine, &caller, &actor, &id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
