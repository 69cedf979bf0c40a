//! Alerts on any limit: `/v1/alert-targets` (webhook targets, their secret shown once),
//! `/v1/limits/{id}/alerts` (a limit's alert rules, replaced as a whole) and `/v1/alerts` (recent
//! deliveries with their status). Admins only.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Problem;
use super::paging::{self, PageParams};
use crate::domain::alert::{
    self, AlertDelivery, AlertStore, AlertTarget, RuleInput, ThresholdInput,
};
use crate::domain::audit::Actor;
use crate::domain::notification::{EventKind, Notification, Threshold};
use crate::domain::principal::{Caller, Role};
use crate::domain::{Error, authority};
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;

/// A new webhook target.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTargetCreate {
    /// Where events are POSTed: an absolute http(s) URL of at most 2048 characters. Its host
    /// must resolve to public addresses (unless the server allows private ones).
    pub url: String,
}

/// A webhook target.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertTargetResponse {
    pub id: Uuid,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// A webhook target just created, with its signing secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertTargetCreated {
    pub id: Uuid,
    pub url: String,
    pub created_at: DateTime<Utc>,
    /// `whsec_` and the base64 key deliveries are signed with (Standard Webhooks).
    pub secret: String,
}

fn target(t: AlertTarget) -> AlertTargetResponse {
    AlertTargetResponse {
        id: t.id,
        url: t.url,
        created_at: t.created_at,
    }
}

/// A threshold: exactly one of `percent` (of the limit's amount) or `units` (used).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100000)]
    pub percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub units: Option<i64>,
}

/// An alert rule on a limit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleBody {
    /// Keeps the rule's state (what it fired at this period) when given again; made when
    /// absent. 1 to 64 of `A-Z a-z 0-9 - _ .`.
    #[serde(default)]
    pub id: Option<String>,
    pub threshold: ThresholdBody,
    /// Fire again at each further threshold in the same period: every further 100 percent,
    /// or every further multiple of `units`. Default false: once per period.
    #[serde(default)]
    pub repeat: bool,
    /// The alert target events go to.
    pub target_id: String,
}

/// An alert rule as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRuleResponse {
    pub id: String,
    pub threshold: ThresholdBody,
    pub repeat: bool,
    pub target_id: Option<Uuid>,
}

fn rule(n: Notification) -> AlertRuleResponse {
    let threshold = match n.threshold {
        Threshold::Percent(p) => ThresholdBody {
            percent: Some(i64::from(p)),
            units: None,
        },
        Threshold::Units(u) => ThresholdBody {
            percent: None,
            units: Some(u),
        },
    };
    AlertRuleResponse {
        target_id: n.webhook(),
        id: n.id,
        threshold,
        repeat: n.repeat,
    }
}

/// One delivery of an alert (or ZITADEL notification) event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDeliveryResponse {
    /// Also the `webhook-id` of the delivery.
    pub id: Uuid,
    /// `alert` (a threshold reached), `reset` (a period rolled over with usage) or `zitadel`.
    pub kind: &'static str,
    /// `pending` (not yet delivered; retried), `delivered`, or `failed` (refused or given up).
    pub status: &'static str,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub limit_id: String,
    pub rule_id: String,
    pub target_id: Option<Uuid>,
    /// The counter's partition of a `per` limit; null otherwise.
    pub partition: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    /// The threshold reached (percent or units as the rule says; 0 for a reset).
    pub threshold: i64,
    /// Usage when the event became due (for a reset: the previous period's final usage).
    pub used: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The event body sent (alert and reset events).
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
}

fn delivery(d: AlertDelivery) -> AlertDeliveryResponse {
    let status = match d.status.as_str() {
        "pending" => "pending",
        "delivered" => "delivered",
        _ => "failed",
    };
    AlertDeliveryResponse {
        id: d.id,
        kind: d.kind.as_str(),
        status,
        attempts: d.attempts,
        last_error: d.last_error,
        limit_id: d.limit_id,
        rule_id: d.rule_id,
        target_id: d.target_id,
        partition: (!d.per_value.is_empty()).then_some(d.per_value),
        period_start: DateTime::from_timestamp_millis(d.period_start),
        threshold: if d.kind == EventKind::Reset {
            0
        } else {
            d.threshold
        },
        used: d.usage,
        created_at: DateTime::from_timestamp_millis(d.created_at),
        updated_at: DateTime::from_timestamp_millis(d.updated_at),
        event: d.payload.and_then(|p| serde_json::from_str(&p).ok()),
    }
}

/// Creates a webhook target; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/alert-targets", tag = "alerts", request_body = AlertTargetCreate,
    responses((status = 201, body = AlertTargetCreated), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_target(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AlertTargetCreate>,
) -> Result<(StatusCode, axum::Json<AlertTargetCreated>), ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (t, secret) = alert::add_target(
        &state.store,
        &Actor::of(&caller),
        &state.signing_key,
        alert::AlertTarget {
            tenant_id: caller.tenant_id,
            id: uuid::Uuid::new_v4(),
            url: body.url,
            created_at: state.clock.now(),
        },
        state.settings.webhook_allow_private,
        crate::notify::is_public,
    )
    .await?;
    let created = AlertTargetCreated {
        id: t.id,
        url: t.url,
        created_at: t.created_at,
        secret,
    };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// The tenant's webhook targets, oldest first (never their secrets).
#[utoipa::path(get, path = "/v1/alert-targets", tag = "alerts",
    responses((status = 200, body = [AlertTargetResponse]), (status = 403, body = Problem)))]
pub async fn list_targets(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<AlertTargetResponse>>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let targets = state.store.alert_targets(caller.tenant_id).await?;
    Ok(axum::Json(targets.into_iter().map(target).collect()))
}

/// Deletes a webhook target (409 while alert rules use it).
#[utoipa::path(delete, path = "/v1/alert-targets/{id}", tag = "alerts",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn delete_target(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("alert target"))?;
    let actor = Actor::of(&caller);
    let now = state.clock.now();
    alert::delete_target(&state.store, &actor, caller.tenant_id, id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a limit's alert rules (any limit of the tenant, native or a surface's); `[]`
/// removes them. At most 10 per limit.
#[utoipa::path(put, path = "/v1/limits/{id}/alerts", tag = "alerts",
    request_body = [AlertRuleBody], params(("id" = String, Path)),
    responses((status = 200, body = [AlertRuleResponse]), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Vec<AlertRuleBody>>,
) -> Result<axum::Json<Vec<AlertRuleResponse>>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let input = body
        .into_iter()
        .map(|r| RuleInput {
            id: r.id,
            threshold: ThresholdInput {
                percent: r.threshold.percent,
                units: r.threshold.units,
            },
            repeat: r.repeat,
            target_id: r.target_id,
        })
        .collect();
    let rules = alert::replace_rules(
        &state.engine,
        &state.store,
        &Actor::of(&caller),
        caller.tenant_id,
        &id,
        input,
    )
    .await?;
    Ok(axum::Json(rules.into_iter().map(rule).collect()))
}

/// A limit's alert rules, in the order given.
#[utoipa::path(get, path = "/v1/limits/{id}/alerts", tag = "alerts",
    params(("id" = String, Path)),
    responses((status = 200, body = [AlertRuleResponse]), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn get_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<AlertRuleResponse>>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let mut found = state.engine.limits(caller.tenant_id, Some(&id)).await?;
    let visible = found
        .pop()
        .is_some_and(|(limit, _)| authority::may_see(&caller, &limit));
    if !visible {
        return Err(Error::NotFound("limit").into());
    }
    let rules = state.store.alert_rules_of(caller.tenant_id, &id).await?;
    Ok(axum::Json(rules.into_iter().map(rule).collect()))
}

/// The tenant's recent deliveries (alert, reset and ZITADEL notification events), newest
/// first, a page at a time (the next page's URL is in `Link: <…>; rel="next"`).
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(PageParams),
    responses((status = 200, body = [AlertDeliveryResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let request = params.request()?;
    let page = state
        .store
        .alert_deliveries(caller.tenant_id, &request)
        .await?
        .map(delivery);
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page,
    ))
}
