//! `POST /v1/datarobot/deployments/{deploymentId}/calls`: how a DataRobot deployment's gateway
//! asks whether a consumer's call may proceed, under the deployment's quota (see
//! `domain::datarobot::enforce` for the steps, and docs/datarobot.md).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Problem;
use super::usage::LimitUsage;
use crate::domain::datarobot::ConsumerType;
use crate::domain::datarobot::enforce::{Call, admit_call};
use crate::domain::limit::check_name;
use crate::domain::principal::Caller;
use crate::domain::usage::{MAX_AMOUNT, MAX_LEASE_SECONDS};
use crate::domain::{Error, Result};
use crate::http::error::{ApiError, Deliberate};
use crate::http::json::Json;
use crate::state::AppState;

/// One consumer's call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallRequest {
    /// `deployment`, `user` or `usergroup`.
    pub consumer_type: String,
    pub consumer_id: String,
    /// Tokens the call uses; default 0.
    #[serde(default)]
    pub tokens: i64,
    /// The call's input length, checked against an `inputSequenceLength` rule.
    #[serde(default)]
    pub input_sequence_length: Option<i64>,
    /// How long the concurrency lease lasts unless released; default 300, at most 604800.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: i64,
}

fn default_lease_seconds() -> i64 {
    300
}

/// A concurrency lease: release it with `DELETE /v1/leases/{id}` when the call ends.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallLease {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// The answer: 200 when the call may proceed, 429 when refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDecisionResponse {
    pub allowed: bool,
    /// The quota governing the deployment; null when it has none (every call is admitted).
    pub quota_id: Option<String>,
    /// `own` when the consumer's policy applied, `default` for the default rules.
    pub policy: &'static str,
    /// Whether the deployment was saturated (a reservation was drawn on, or the call refused).
    pub saturated: bool,
    /// Refused: the rule kind that refused, or `saturation`.
    pub refused_by: Option<&'static str>,
    /// Admitted: every limit that applied; refused: those that refused.
    pub limits: Vec<LimitUsage>,
    pub lease: Option<CallLease>,
}

fn call_of(body: CallRequest) -> Result<Call> {
    let consumer_type = ConsumerType::parse(&body.consumer_type).ok_or_else(|| {
        Error::invalid_body(
            "/consumer_type",
            "must be one of deployment, user, usergroup",
        )
    })?;
    check_name(&body.consumer_id, "/consumer_id")?;
    let amount = |value: i64, pointer: &str| {
        if (0..=MAX_AMOUNT).contains(&value) {
            Ok(value)
        } else {
            Err(Error::invalid_body(
                pointer,
                format!("must be between 0 and {MAX_AMOUNT}"),
            ))
        }
    };
    if !(1..=MAX_LEASE_SECONDS).contains(&body.lease_seconds) {
        return Err(Error::invalid_body(
            "/lease_seconds",
            format!("must be between 1 and {MAX_LEASE_SECONDS}"),
        ));
    }
    Ok(Call {
        consumer_type,
        consumer_id: body.consumer_id,
        tokens: amount(body.tokens, "/tokens")?,
        input_sequence_length: body
            .input_sequence_length
            .map(|n| amount(n, "/input_sequence_length"))
            .transpose()?,
        lease_ttl: TimeDelta::seconds(body.lease_seconds),
    })
}

/// Enforces one consumer's call to a deployment under the deployment's DataRobot quota.
#[utoipa::path(post, path = "/v1/datarobot/deployments/{deploymentId}/calls", tag = "datarobot",
    params(("deploymentId" = String, Path)), request_body = CallRequest,
    responses((status = 200, body = CallDecisionResponse),
        (status = 429, body = CallDecisionResponse), (status = 422, body = Problem)))]
pub async fn admit(
    State(state): State<AppState>,
    caller: Caller,
    Path(deployment): Path<String>,
    Json(body): Json<CallRequest>,
) -> Result<Response, ApiError> {
    let call = call_of(body)?;
    let decision = admit_call(
        &state.store,
        &state.engine,
        caller.tenant_id,
        &deployment,
        &call,
    )
    .await?;
    let status = if decision.allowed {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    let retry_after = decision.retry_after;
    let body = CallDecisionResponse {
        allowed: decision.allowed,
        quota_id: decision.quota_id,
        policy: decision.applies.as_str(),
        saturated: decision.saturated,
        refused_by: match (decision.allowed, decision.refused_by) {
            (true, _) => None,
            (false, Some(kind)) => Some(kind.as_str()),
            (false, None) => Some("saturation"),
        },
        limits: decision.limits.into_iter().map(Into::into).collect(),
        lease: decision.lease.map(|l| CallLease {
            id: l.id,
            expires_at: l.expires_at,
        }),
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response.extensions_mut().insert(Deliberate);
    Ok(response)
}
