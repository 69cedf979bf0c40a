//! AddQuota, SetQuota and RemoveQuota.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;

use super::dto::{
    Request, SystemServiceAddQuotaBody, SystemServiceSetQuotaBody, V1AddQuotaResponse,
    V1ObjectDetails, V1RemoveQuotaResponse, V1SetQuotaResponse,
};
use super::error::RpcStatus;
use crate::domain::audit::Actor;
use crate::domain::principal::Caller;
use crate::domain::zitadel::{self, QuotaSpec, Unit};
use crate::http::error::ApiError;
use crate::http::json::parse_json;
use crate::state::AppState;

/// The body read as `request`'s fields (read once the caller and instance are known, so a
/// forbidden or unknown one is told so before anything about the body).
fn spec(body: &Bytes, request: Request) -> Result<QuotaSpec, ApiError> {
    let body: SystemServiceAddQuotaBody = parse_json(body)?;
    Ok(body.into_spec(request)?)
}

/// The `{unit}` path segment: an enum name or number (`None`: `UNIT_UNIMPLEMENTED`, which no
/// quota has). Anything else is grpc-gateway's 400 InvalidArgument, as it fails to parse the
/// path before the call is made.
fn path_unit(text: &str) -> Result<Option<Unit>, ApiError> {
    if text == "UNIT_UNIMPLEMENTED" || text == "0" {
        return Ok(None);
    }
    Unit::from_name(text)
        .or_else(|| text.parse().ok().and_then(Unit::from_number))
        .map(Some)
        .ok_or_else(|| {
            crate::domain::Error::Invalid {
                field: crate::domain::Field::Path("unit".into()),
                message: format!(
                    "type mismatch, parameter: unit, error: {text:?} is not valid zitadel.quota.v1.Unit"
                ),
            }
            .into()
        })
}

/// Creates a quota; 409 when the instance has one for the unit (deprecated: use SetQuota).
#[utoipa::path(post, path = "/system/v1/instances/{instanceId}/quotas", tag = "zitadel",
    operation_id = "SystemService_AddQuota",
    params(("instanceId" = String, Path, description = "A tenant id")),
    request_body = SystemServiceAddQuotaBody,
    responses((status = 200, body = V1AddQuotaResponse),
        (status = 400, body = RpcStatus), (status = 403, body = RpcStatus),
        (status = 404, body = RpcStatus), (status = 409, body = RpcStatus)))]
pub async fn add_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(instance_id): Path<String>,
    body: Bytes,
) -> Result<Json<V1AddQuotaResponse>, ApiError> {
    let tenant = zitadel::instance(&state.store, &caller, &instance_id).await?;
    let spec = spec(&body, Request::Add)?;
    let details = zitadel::add_quota(
        &state.engine,
        &state.store,
        &Actor::of(&caller),
        tenant,
        spec,
    )
    .await?;
    Ok(Json(V1AddQuotaResponse {
        details: V1ObjectDetails::created(&details),
    }))
}

/// Creates or updates a quota; calling it again with the same body changes nothing.
#[utoipa::path(put, path = "/system/v1/instances/{instanceId}/quotas", tag = "zitadel",
    operation_id = "SystemService_SetQuota",
    params(("instanceId" = String, Path, description = "A tenant id")),
    request_body = SystemServiceSetQuotaBody,
    responses((status = 200, body = V1SetQuotaResponse),
        (status = 400, body = RpcStatus), (status = 403, body = RpcStatus),
        (status = 404, body = RpcStatus)))]
pub async fn set_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(instance_id): Path<String>,
    body: Bytes,
) -> Result<Json<V1SetQuotaResponse>, ApiError> {
    let tenant = zitadel::instance(&state.store, &caller, &instance_id).await?;
    let spec = spec(&body, Request::Set)?;
    let details = zitadel::set_quota(
        &state.engine,
        &state.store,
        &Actor::of(&caller),
        tenant,
        spec,
    )
    .await?;
    Ok(Json(V1SetQuotaResponse {
        details: V1ObjectDetails::created(&details),
    }))
}

/// Removes a quota with its usage and notification state; 404 when there is none.
#[utoipa::path(delete, path = "/system/v1/instances/{instanceId}/quotas/{unit}", tag = "zitadel",
    operation_id = "SystemService_RemoveQuota",
    params(("instanceId" = String, Path, description = "A tenant id"),
        ("unit" = String, Path, description = "UNIT_REQUESTS_ALL_AUTHENTICATED or UNIT_ACTIONS_ALL_RUN_SECONDS (or its number)")),
    responses((status = 200, body = V1RemoveQuotaResponse),
        (status = 403, body = RpcStatus), (status = 404, body = RpcStatus)))]
pub async fn remove_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path((instance_id, unit)): Path<(String, String)>,
) -> Result<Json<V1RemoveQuotaResponse>, ApiError> {
    let tenant = zitadel::instance(&state.store, &caller, &instance_id).await?;
    let unit = path_unit(&unit)?;
    let details = zitadel::remove_quota(
        &state.engine,
        &state.store,
        &Actor::of(&caller),
        tenant,
        unit,
    )
    .await?;
    Ok(Json(V1RemoveQuotaResponse {
        details: V1ObjectDetails::changed(&details),
    }))
}
