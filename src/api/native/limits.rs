//! `/v1/limits`: native limits, defined by a tenant's admins, listed with their current usage.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Problem;
pub use super::limit_body::{AmountBody, LimitPut, WindowBody};
use super::paging::{self, PageParams};
use super::usage::LimitUsage;
use crate::domain::audit::Actor;
use crate::domain::authority;
use crate::domain::limit::{Limit, check_name};
use crate::domain::page::Paged;
use crate::domain::principal::{Caller, Role};
use crate::domain::usage::LimitStatus;
use crate::domain::{Error, Field};
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;

/// A limit, with where it stands now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitResponse {
    pub id: String,
    pub subject: BTreeMap<String, String>,
    pub metric: String,
    pub amount: AmountBody,
    pub window: WindowBody,
    pub blocking: bool,
    /// The subject keys that split the limit, when any; `usage` is then that of subjects
    /// without those keys, and each value's own counter is not listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per: Vec<String>,
    /// The surface resource that manages this limit; null for native limits.
    pub owner: Option<String>,
    /// Its family, if any: of the limits of one family that match a subject, only the most
    /// specific apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// When it stops applying, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `enforce`, or `shadow`: counts and reports what it would refuse, never refuses.
    #[schema(value_type = String, example = "enforce")]
    pub mode: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub usage: LimitUsage,
}

fn response(limit: Limit, status: LimitStatus) -> LimitResponse {
    LimitResponse {
        subject: limit.selector.as_map().clone(),
        amount: limit.amount.into(),
        window: limit.window.into(),
        id: limit.id,
        metric: limit.metric,
        blocking: limit.blocking,
        owner: limit.owner,
        per: limit.per,
        family: limit.family,
        expires_at: limit.expires_at,
        mode: limit.mode.as_str(),
        created_at: limit.created_at,
        updated_at: limit.updated_at,
        usage: status.into(),
    }
}

/// Creates (201) or replaces (200) a native limit. `id` is the caller's choice, outside every
/// surface's namespace.
#[utoipa::path(put, path = "/v1/limits/{id}", tag = "limits", request_body = LimitPut,
    params(("id" = String, Path)),
    responses((status = 201, body = LimitResponse), (status = 200, body = LimitResponse),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<LimitPut>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    put_native(&state, &caller, caller.tenant_id, id, body).await
}

/// Creates or replaces a native limit of a tenant: what `PUT /v1/limits/{id}` does for its own
/// tenant, and operators do for any.
async fn put_native(
    state: &AppState,
    caller: &Caller,
    tenant_id: Uuid,
    id: String,
    body: LimitPut,
) -> Result<(StatusCode, axum::Json<LimitResponse>), ApiError> {
    check_name(&id, "/id").map_err(|_| Error::Invalid {
        field: Field::Path("id".into()),
        message: "must be 1 to 200 characters".into(),
    })?;
    authority::check_native_limit_id(&id)?;
    let limit = body.into_limit(id.clone(), tenant_id, state.clock.now())?;
    authority::check_native_family(limit.family.as_deref())?;
    let created = state.engine.put_limit(&limit, &Actor::of(caller)).await?;
    let (limit, status) = one(state, tenant_id, &id).await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, axum::Json(response(limit, status))))
}

async fn one(
    state: &AppState,
    tenant_id: Uuid,
    id: &str,
) -> Result<(Limit, LimitStatus), ApiError> {
    let mut found = state.engine.limits(tenant_id, Some(id)).await?;
    found.pop().ok_or_else(|| Error::NotFound("limit").into())
}

/// The limits of a page the caller may see (`authority::may_see`), as answered.
fn listed(page: Paged<(Limit, LimitStatus)>, caller: &Caller) -> Paged<LimitResponse> {
    Paged {
        items: page
            .items
            .into_iter()
            .filter(|(l, _)| authority::may_see(caller, l))
            .map(|(l, s)| response(l, s))
            .collect(),
        next: page.next,
    }
}

/// The tenant's limits with current usage, by id, a page at a time (the next page's URL is in
/// `Link: <…>; rel="next"`): for admins every limit (native and those of every surface); for
/// other keys native limits and those that name their own `user_id`. The filter applies to
/// each page, so a page may hold fewer items than `limit` (even none) and still have a next.
#[utoipa::path(get, path = "/v1/limits", tag = "limits", params(PageParams),
    responses((status = 200, body = [LimitResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem)))]
pub async fn list_limits(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let request = params.request()?;
    let page = state.engine.limits_page(caller.tenant_id, &request).await?;
    let page = listed(page, &caller);
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page,
    ))
}

/// One limit with current usage (404 for a limit the caller may not see).
#[utoipa::path(get, path = "/v1/limits/{id}", tag = "limits", params(("id" = String, Path)),
    responses((status = 200, body = LimitResponse), (status = 404, body = Problem)))]
pub async fn get_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<LimitResponse>, ApiError> {
    let (limit, status) = one(&state, caller.tenant_id, &id).await?;
    if !authority::may_see(&caller, &limit) {
        return Err(Error::NotFound("limit").into());
    }
    Ok(axum::Json(response(limit, status)))
}

/// Deletes a native limit and its usage.
#[utoipa::path(delete, path = "/v1/limits/{id}", tag = "limits", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn delete_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_any(&[Role::Admin])?;
    state
        .engine
        .delete_limit(caller.tenant_id, &id, None, &Actor::of(&caller))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Any tenant's limits, every owner's (system keys), by id, a page at a time: the next page's
/// URL is in `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/limits", tag = "limits",
    params(("tenant_id" = Uuid, Path), PageParams),
    responses((status = 200, body = [LimitResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn list_tenant_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let tenant_id = operated_tenant(&state, &caller, &tenant_id).await?;
    let request = params.request()?;
    let page = state.engine.limits_page(tenant_id, &request).await?;
    let page = listed(page, &caller);
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page,
    ))
}

/// One limit of any tenant, whatever its owner (system keys).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/limits/{id}", tag = "limits",
    params(("tenant_id" = Uuid, Path), ("id" = String, Path)),
    responses((status = 200, body = LimitResponse), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn get_tenant_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant_id, id)): Path<(String, String)>,
) -> Result<axum::Json<LimitResponse>, ApiError> {
    let tenant_id = operated_tenant(&state, &caller, &tenant_id).await?;
    let (limit, status) = one(&state, tenant_id, &id).await?;
    Ok(axum::Json(response(limit, status)))
}

/// Creates or replaces a native limit of any tenant (system keys).
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/limits/{id}", tag = "limits",
    request_body = LimitPut, params(("tenant_id" = Uuid, Path), ("id" = String, Path)),
    responses((status = 201, body = LimitResponse), (status = 200, body = LimitResponse),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn put_tenant_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant_id, id)): Path<(String, String)>,
    Json(body): Json<LimitPut>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant_id = operated_tenant(&state, &caller, &tenant_id).await?;
    put_native(&state, &caller, tenant_id, id, body).await
}

/// Deletes any limit of any tenant, whatever its owner, with its usage: the operator's repair
/// (system keys).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/limits/{id}", tag = "limits",
    params(("tenant_id" = Uuid, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_tenant_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = operated_tenant(&state, &caller, &tenant_id).await?;
    state
        .engine
        .remove_limit(tenant_id, &id, &Actor::of(&caller))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant a system key names in the path (404 when there is none).
async fn operated_tenant(state: &AppState, caller: &Caller, raw: &str) -> Result<Uuid, ApiError> {
    caller.require_system()?;
    let id = super::tenants::tenant_id(raw)?;
    Ok(crate::domain::access::tenant(&state.store, caller, id)
        .await?
        .id)
}
