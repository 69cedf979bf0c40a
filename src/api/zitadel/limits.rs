//! SetLimits, BulkSetLimits and ResetLimits over REST (grpc-gateway's mapping): an instance's
//! `block` and `auditLogRetention`.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{V1ObjectDetails, duration_of};
use super::error::RpcStatus;
use crate::domain::audit::Actor;
use crate::domain::principal::Caller;
use crate::domain::zitadel::{self, Details};
use crate::domain::zitadel_instance::{self, LimitsChange};
use crate::http::error::ApiError;
use crate::http::json::parse_json;
use crate::state::AppState;

/// The body of SetLimits.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SystemServiceSetLimitsBody {
    /// How old events may be to be read (a protobuf Duration such as `"2592000s"`).
    #[serde(default, rename = "auditLogRetention", alias = "audit_log_retention")]
    pub audit_log_retention: Option<String>,
    /// True: every authenticated request of the instance's tenant is answered 429.
    #[serde(default)]
    pub block: Option<bool>,
}

impl SystemServiceSetLimitsBody {
    fn change(&self, pointer: &str) -> Result<LimitsChange, ApiError> {
        let audit_log_retention = match &self.audit_log_retention {
            Some(text) => Some(duration_of(text, &format!("{pointer}/auditLogRetention"))?),
            None => None,
        };
        Ok(LimitsChange {
            audit_log_retention,
            block: self.block,
        })
    }
}

/// One instance's limits in BulkSetLimits.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct V1SetLimitsRequest {
    #[serde(default, rename = "instanceId", alias = "instance_id")]
    pub instance_id: Option<String>,
    #[serde(flatten)]
    pub limits: SystemServiceSetLimitsBody,
}

/// The body of BulkSetLimits.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = v1BulkSetLimitsRequest)]
pub struct V1BulkSetLimitsRequest {
    #[serde(default)]
    pub limits: Vec<V1SetLimitsRequest>,
}

/// The answer of SetLimits and ResetLimits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1SetLimitsResponse)]
pub struct V1SetLimitsResponse {
    pub details: V1ObjectDetails,
}

/// The answer of BulkSetLimits: the whole change, and each instance's.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1BulkSetLimitsResponse)]
pub struct V1BulkSetLimitsResponse {
    pub details: V1ObjectDetails,
    #[serde(rename = "targetDetails")]
    pub target_details: Vec<V1ObjectDetails>,
}

/// Sets an instance's limits; fields left out keep their value.
#[utoipa::path(put, path = "/system/v1/instances/{instanceId}/limits", tag = "zitadel",
    operation_id = "SystemService_SetLimits",
    params(("instanceId" = String, Path, description = "A tenant id")),
    request_body = SystemServiceSetLimitsBody,
    responses((status = 200, body = V1SetLimitsResponse),
        (status = 400, body = RpcStatus), (status = 404, body = RpcStatus)))]
pub async fn set_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path(instance_id): Path<String>,
    body: Bytes,
) -> Result<Json<V1SetLimitsResponse>, ApiError> {
    let tenant = zitadel::instance(&state.store, &caller, &instance_id).await?;
    let change = parse_json::<SystemServiceSetLimitsBody>(&body)?.change("")?;
    let details = set_one(&state, &Actor::of(&caller), tenant, &change).await?;
    Ok(Json(V1SetLimitsResponse {
        details: V1ObjectDetails::changed(&details),
    }))
}

pub(super) async fn set_one(
    state: &AppState,
    actor: &Actor,
    tenant: uuid::Uuid,
    change: &LimitsChange,
) -> crate::domain::Result<Details> {
    let now = state.clock.now();
    zitadel_instance::set_limits(
        &state.store,
        actor,
        &state.instance_blocks,
        tenant,
        change,
        now,
    )
    .await
}

/// Sets the limits of many instances; all are checked before any is written.
#[utoipa::path(put, path = "/system/v1/instances/limits/_bulk", tag = "zitadel",
    operation_id = "SystemService_BulkSetLimits",
    request_body = V1BulkSetLimitsRequest,
    responses((status = 200, body = V1BulkSetLimitsResponse),
        (status = 400, body = RpcStatus), (status = 404, body = RpcStatus)))]
pub async fn bulk_set_limits(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<V1BulkSetLimitsResponse>, ApiError> {
    caller.require_system()?;
    let body: V1BulkSetLimitsRequest = parse_json(&body)?;
    let mut changes = Vec::new();
    for (i, item) in body.limits.iter().enumerate() {
        let id = item.instance_id.clone().unwrap_or_default();
        let tenant = zitadel::instance(&state.store, &caller, &id).await?;
        let change = item.limits.change(&format!("/limits/{i}"))?;
        zitadel_instance::validate(&change)?;
        changes.push((tenant, change));
    }
    let (details, targets) = bulk(&state, &Actor::of(&caller), &changes).await?;
    Ok(Json(V1BulkSetLimitsResponse {
        details,
        target_details: targets,
    }))
}

/// Applies checked changes; the whole change's details and each instance's.
pub(super) async fn bulk(
    state: &AppState,
    actor: &Actor,
    changes: &[(uuid::Uuid, LimitsChange)],
) -> crate::domain::Result<(V1ObjectDetails, Vec<V1ObjectDetails>)> {
    let mut targets = Vec::new();
    for (tenant, change) in changes {
        targets.push(set_one(state, actor, *tenant, change).await?);
    }
    let whole = Details {
        sequence: targets.iter().map(|d| d.sequence).max().unwrap_or(0),
        date: state.clock.now(),
        resource_owner: uuid::Uuid::nil(),
    };
    let mut whole = V1ObjectDetails::changed(&whole);
    whole.resource_owner = String::new();
    Ok((
        whole,
        targets.iter().map(V1ObjectDetails::changed).collect(),
    ))
}

/// Removes every limit of an instance (it is no longer blocked); 404 when it has none.
#[utoipa::path(delete, path = "/system/v1/instances/{instanceId}/limits", tag = "zitadel",
    operation_id = "SystemService_ResetLimits",
    params(("instanceId" = String, Path, description = "A tenant id")),
    responses((status = 200, body = V1SetLimitsResponse), (status = 404, body = RpcStatus)))]
pub async fn reset_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path(instance_id): Path<String>,
) -> Result<Json<V1SetLimitsResponse>, ApiError> {
    let tenant = zitadel::instance(&state.store, &caller, &instance_id).await?;
    let now = state.clock.now();
    let details = zitadel_instance::reset_limits(
        &state.store,
        &Actor::of(&caller),
        &state.instance_blocks,
        tenant,
        now,
    )
    .await?;
    Ok(Json(V1SetLimitsResponse {
        details: V1ObjectDetails::changed(&details),
    }))
}
