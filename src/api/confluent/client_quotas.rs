//! `/kafka-quotas/v1/client-quotas`: the five operations of Confluent's client quota API, under
//! the caller's tenant (the Confluent organization). Reading needs any role of the tenant;
//! writing needs `admin`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::{ClientQuota, ClientQuotaCreate, ClientQuotaList, ClientQuotaUpdate};
use super::error::{FailureBody, reject};
use super::links::Links;
use crate::domain::audit::Actor;
use crate::domain::confluent::{ClientQuotas, page_size};
use crate::domain::principal::{Caller, Role};
use crate::domain::{Error, Result};
use crate::http::json::{Json, Query};
use crate::state::AppState;
use crate::store::AnyStore;

const TAG: &str = "Client Quotas (kafka-quotas/v1)";

fn service(state: &AppState) -> ClientQuotas<'_, AnyStore> {
    ClientQuotas {
        store: &state.store,
        engine: &state.engine,
    }
}

/// Answers `result` as JSON with `status`, or as the failure it is.
fn answer<T: serde::Serialize>(links: &Links, status: StatusCode, result: Result<T>) -> Response {
    match result {
        Ok(body) => (status, axum::Json(body)).into_response(),
        Err(e) => reject(links, e),
    }
}

/// Creates a client quota: 202 with the quota and its `Location`; 409 with the `Location` of
/// the client quota a principal already has on the cluster.
#[utoipa::path(post, path = "/kafka-quotas/v1/client-quotas", tag = TAG,
    request_body = ClientQuotaCreate,
    responses(
        (status = 202, description = "A Client Quota is being created.", body = ClientQuota,
            headers(("Location" = String, description = "ClientQuota resource uri"))),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody),
        (status = 403, body = FailureBody),
        (status = 409, body = FailureBody,
            headers(("Location" = String, description = "Resource URI of conflicting resource"))),
        (status = 422, body = FailureBody)),
    security(("basic" = [])))]
pub async fn create_client_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ClientQuotaCreate>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let created = async {
        caller.require_any(&[Role::Admin])?;
        let draft = body.into_draft()?;
        service(&state)
            .create(
                &Actor::of(&caller),
                caller.tenant_id,
                draft,
                state.clock.now(),
            )
            .await
    }
    .await;
    match created {
        Ok(quota) => {
            let body = ClientQuota::of(&quota, &links);
            let location = body.metadata.self_url.clone();
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                axum::Json(body),
            )
                .into_response()
        }
        Err(e) => reject(&links, e),
    }
}

/// The list's query: both filters are required.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The cluster whose client quotas to list (required).
    #[serde(rename = "spec.cluster")]
    #[param(rename = "spec.cluster", required = true)]
    pub spec_cluster: Option<String>,
    /// The environment of the cluster (required).
    #[param(required = true)]
    pub environment: Option<String>,
    /// Items per page: 1 to 100, default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub page_size: Option<String>,
    /// The opaque token of a page, from `metadata.next`.
    #[param(max_length = 255)]
    pub page_token: Option<String>,
}

fn filter(value: Option<String>, name: &str) -> Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::invalid_query(
            name,
            format!("the '{name}' filter is required"),
        )),
    }
}

/// Lists the client quotas on one cluster, oldest first, a page at a time.
#[utoipa::path(get, path = "/kafka-quotas/v1/client-quotas", tag = TAG, params(ListParams),
    responses((status = 200, description = "Client Quota.", body = ClientQuotaList),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody)),
    security(("basic" = [])))]
pub async fn list_client_quotas(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let listed = async {
        let cluster = filter(params.spec_cluster, "spec.cluster")?;
        let environment = filter(params.environment, "environment")?;
        let size = page_size(params.page_size.as_deref())?;
        let token = params.page_token.as_deref().filter(|t| !t.is_empty());
        let page = service(&state)
            .list(caller.tenant_id, &environment, &cluster, size, token)
            .await?;
        Ok(ClientQuotaList::of(&page, &links, &environment, &cluster))
    }
    .await;
    answer(&links, StatusCode::OK, listed)
}

/// Reads one client quota.
#[utoipa::path(get, path = "/kafka-quotas/v1/client-quotas/{id}", tag = TAG,
    params(("id" = String, Path, description = "The unique identifier for the client quota.")),
    responses((status = 200, description = "Client Quota.", body = ClientQuota),
        (status = 401, body = FailureBody), (status = 404, body = FailureBody)),
    security(("basic" = [])))]
pub async fn get_client_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let found = service(&state).get(caller.tenant_id, &id).await;
    answer(
        &links,
        StatusCode::OK,
        found.map(|q| ClientQuota::of(&q, &links)),
    )
}

/// Updates a client quota's `display_name`, `description`, `throughput` or `principals`: only
/// the fields sent change. `spec.environment` and `spec.cluster`, when sent, must be the quota's;
/// an `id` in the body must be the path's.
#[utoipa::path(patch, path = "/kafka-quotas/v1/client-quotas/{id}", tag = TAG,
    params(("id" = String, Path, description = "The unique identifier for the client quota.")),
    request_body = ClientQuotaUpdate,
    responses((status = 200, description = "Client Quota.", body = ClientQuota),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody),
        (status = 403, body = FailureBody), (status = 404, body = FailureBody),
        (status = 409, body = FailureBody,
            headers(("Location" = String, description = "Resource URI of conflicting resource"))),
        (status = 422, body = FailureBody)),
    security(("basic" = [])))]
pub async fn update_client_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ClientQuotaUpdate>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let updated = async {
        caller.require_any(&[Role::Admin])?;
        let update = body.check(&id)?;
        service(&state)
            .update(
                &Actor::of(&caller),
                caller.tenant_id,
                &id,
                update.environment.as_deref(),
                update.cluster.as_deref(),
                update.changes,
                state.clock.now(),
            )
            .await
    }
    .await;
    answer(
        &links,
        StatusCode::OK,
        updated.map(|q| ClientQuota::of(&q, &links)),
    )
}

/// Deletes a client quota and the limits it owns.
#[utoipa::path(delete, path = "/kafka-quotas/v1/client-quotas/{id}", tag = TAG,
    params(("id" = String, Path, description = "The unique identifier for the client quota.")),
    responses((status = 204, description = "A Client Quota is being deleted."),
        (status = 401, body = FailureBody), (status = 403, body = FailureBody),
        (status = 404, body = FailureBody)),
    security(("basic" = [])))]
pub async fn delete_client_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let deleted = async {
        caller.require_any(&[Role::Admin])?;
        service(&state)
            .delete(
                &Actor::of(&caller),
                caller.tenant_id,
                &id,
                state.clock.now(),
            )
            .await
    }
    .await;
    match deleted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => reject(&links, e),
    }
}
