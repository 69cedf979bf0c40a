//! `/v1/tenants`, `/v1/tenants/{id}/api-keys` and `/v1/whoami`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::{Json, response::IntoResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Problem;
use super::paging::{self, PageParams};
use crate::domain::Error;
use crate::domain::access::{self, NewKey};
use crate::domain::audit::Actor;
use crate::domain::principal::{ApiKey, Caller};
use crate::domain::tenant::Tenant;
use crate::http::error::ApiError;
use crate::http::json::Json as Body;
use crate::state::AppState;

/// A tenant: an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantResponse {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name.as_str().to_owned(),
            created_at: t.created_at,
        }
    }
}

/// What creates a tenant.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TenantCreate {
    /// 1 to 200 characters.
    pub name: String,
}

/// What creates a key.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiKeyCreate {
    /// Any of `system` (system keys only), `admin`, `staff`, `support`, `user`.
    pub roles: Vec<String>,
    /// The principal the key acts as.
    pub user_id: Option<Uuid>,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: String,
    pub tenant_id: Uuid,
    pub roles: Vec<&'static str>,
    pub user_id: Option<Uuid>,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl From<&ApiKey> for ApiKeyResponse {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            tenant_id: k.tenant_id,
            roles: k.roles.names(),
            user_id: k.user_id,
            description: k.description.clone(),
            created_at: k.created_at,
        }
    }
}

/// A key just created, with its secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    pub secret: String,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    pub tenant_id: Uuid,
    pub key_id: String,
    pub user_id: Option<Uuid>,
    pub roles: Vec<&'static str>,
}

pub(super) fn tenant_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("tenant").into())
}

/// Creates a tenant (system keys).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = TenantCreate,
    responses((status = 201, body = TenantResponse), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<TenantCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant =
        access::create_tenant(&state.store, &caller, &body.name, state.clock.now()).await?;
    // Their own transactions: a crash between them leaves the defaults to the next start-up.
    state
        .chat_quotas
        .ensure_defaults(&state.engine, tenant.id)
        .await?;
    crate::api::confluent::service_quota::service(&state)
        .ensure_defaults(&Actor::start_up(), tenant.id)
        .await?;
    Ok((StatusCode::CREATED, Json(TenantResponse::from(tenant))))
}

/// Lists tenants (system keys), oldest first, a page at a time: the next page's URL is in
/// `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, body = [TenantResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let request = params.request()?;
    let tenants = access::list_tenants(&state.store, &caller, &request).await?;
    let page = tenants.map(TenantResponse::from);
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page,
    ))
}

/// One tenant (system keys, or that tenant's admin).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = TenantResponse), (status = 404, body = Problem)))]
pub async fn get_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TenantResponse>, ApiError> {
    let tenant = access::tenant(&state.store, &caller, tenant_id(&id)?).await?;
    Ok(Json(tenant.into()))
}

/// Creates a key; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/api-keys", tag = "tenants",
    params(("tenant_id" = Uuid, Path)), request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem,
            description = "The tenant's key quota (iam.max_api_keys.per_org) is reached"),
        (status = 422, body = Problem)))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<ApiKeyCreate>,
) -> Result<impl IntoResponse, ApiError> {
    let request = NewKey {
        roles: body.roles,
        user_id: body.user_id,
        description: body.description,
    };
    let now = state.clock.now();
    let (key, secret) = access::create_key(
        &state.store,
        &state.engine,
        &caller,
        tenant_id(&id)?,
        request,
        now,
    )
    .await?;
    let created = ApiKeyCreated {
        key: ApiKeyResponse::from(&key),
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists a tenant's keys, without secrets, oldest first, a page at a time: the next page's URL
/// is in `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/api-keys", tag = "tenants",
    params(("tenant_id" = Uuid, Path), PageParams),
    responses((status = 200, body = [ApiKeyResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let request = params.request()?;
    let keys = access::list_keys(&state.store, &caller, tenant_id(&id)?, &request).await?;
    let page = keys.map(|k| ApiKeyResponse::from(&k));
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page,
    ))
}

/// Revokes a key: its next request is refused.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/api-keys/{key_id}", tag = "tenants",
    params(("tenant_id" = Uuid, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access::revoke_key(
        &state.store,
        &state.engine,
        &caller,
        tenant_id(&id)?,
        &key_id,
        state.clock.now(),
    )
    .await?;
    state.keys.evict(&key_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is.
#[utoipa::path(get, path = "/v1/whoami", tag = "tenants",
    responses((status = 200, body = Whoami), (status = 401, body = Problem)))]
pub async fn whoami(caller: Caller) -> Json<Whoami> {
    Json(Whoami {
        tenant_id: caller.tenant_id,
        key_id: caller.key_id,
        user_id: caller.user_id,
        roles: caller.roles.names(),
    })
}
