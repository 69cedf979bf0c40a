//! A native look-up (problem+json, like every `/v1/` path): the client quota that governs a
//! principal on a Kafka cluster — its own, else the cluster's `<default>` — with the engine
//! limits that carry it.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::native::Problem;
use crate::domain::confluent::{ClientQuotas, EGRESS_METRIC, INGRESS_METRIC, limit_id};
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Rates in bytes per second, as numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveThroughput {
    pub ingress_byte_rate: i64,
    pub egress_byte_rate: i64,
}

/// The engine limits that hold the effective quota (see `/v1/limits/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveLimits {
    pub ingress: String,
    pub egress: String,
}

/// The client quota that governs a principal on a cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveClientQuota {
    pub environment: String,
    pub cluster: String,
    /// The principal asked about.
    pub principal: String,
    /// The principal whose entry applies: the one asked about, or `<default>`.
    pub applies_via: String,
    pub client_quota_id: String,
    pub display_name: String,
    pub throughput: EffectiveThroughput,
    pub limits: EffectiveLimits,
}

/// The effective client quota of `principal` on `cluster` (its own, else `<default>`'s); 404
/// when neither exists. Percent-encode `<default>` as `%3Cdefault%3E`.
#[utoipa::path(get,
    path = "/v1/kafka/environments/{environment}/clusters/{cluster}/principals/{principal}/client-quota",
    tag = "kafka",
    params(("environment" = String, Path), ("cluster" = String, Path), ("principal" = String, Path)),
    responses((status = 200, body = EffectiveClientQuota), (status = 404, body = Problem)))]
pub async fn effective_client_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path((environment, cluster, principal)): Path<(String, String, String)>,
) -> Result<axum::Json<EffectiveClientQuota>, ApiError> {
    let service = ClientQuotas {
        store: &state.store,
        engine: &state.engine,
    };
    let found = service
        .effective(caller.tenant_id, &environment, &cluster, &principal)
        .await?;
    let quota = found.quota;
    Ok(axum::Json(EffectiveClientQuota {
        limits: EffectiveLimits {
            ingress: limit_id(&quota.id, &found.via, INGRESS_METRIC),
            egress: limit_id(&quota.id, &found.via, EGRESS_METRIC),
        },
        environment,
        cluster,
        principal,
        applies_via: found.via,
        client_quota_id: quota.id,
        display_name: quota.display_name,
        throughput: EffectiveThroughput {
            ingress_byte_rate: quota.throughput.ingress_byte_rate,
            egress_byte_rate: quota.throughput.egress_byte_rate,
        },
    }))
}
