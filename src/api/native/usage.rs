//! `/v1/usage/{check,consume,report}` and `/v1/leases`: the usage engine over HTTP.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Problem;
use super::effective::{Explain, ExplainParams, ExplainedLimit};
use super::limits::WindowBody;
use crate::domain::Error;
use crate::domain::authority::{self, UsageAct};
use crate::domain::limit::Subject;
use crate::domain::ports::LimitStore;
use crate::domain::principal::Caller;
use crate::domain::usage::{Decision, LimitStatus, Usage};
use crate::http::error::{ApiError, Deliberate};
use crate::http::json::Json;
use crate::http::ratelimit_headers::{self, CONCURRENT_REQUESTS, PolicyStanding};
use crate::state::AppState;

/// Who uses how much of what.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UsageRequest {
    /// Key/value pairs naming the user of the metric; a limit applies when all its selector's
    /// pairs are among them.
    pub subject: BTreeMap<String, String>,
    pub metric: String,
    /// Units, 0 or more.
    pub amount: i64,
}

/// A gauge's new level.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReportRequest {
    pub subject: BTreeMap<String, String>,
    pub metric: String,
    /// The level, 0 or more.
    pub value: i64,
}

/// Units to hold until released or expired.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LeaseRequest {
    pub subject: BTreeMap<String, String>,
    pub metric: String,
    /// Units to hold, 1 or more.
    pub amount: i64,
    /// 1 to 604800.
    pub ttl_seconds: i64,
}

/// Where one limit stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitUsage {
    pub quota_id: String,
    pub metric: String,
    /// The ceiling; null when unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// What is left; null when unlimited.
    pub remaining: Option<i64>,
    /// When the period resets; null when it never does.
    pub reset_at: Option<DateTime<Utc>>,
    pub window: WindowBody,
}

impl From<LimitStatus> for LimitUsage {
    fn from(s: LimitStatus) -> Self {
        Self {
            quota_id: s.quota_id,
            metric: s.metric,
            limit: s.limit,
            used: s.used,
            remaining: s.remaining,
            // RFC 3339 has four-digit years: a reset after 9999 is, for a client, never.
            reset_at: s.reset_at.filter(|at| at.year() <= 9999),
            window: s.window.into(),
        }
    }
}

/// Most limits an answer lists (and gives `RateLimit` header items for): past it, the tightest
/// (least remaining; on a refusal, the refusing ones are all there is) are listed, and
/// `limits_omitted` says how many more there were.
pub const MAX_LISTED_LIMITS: usize = 100;

/// At most [`MAX_LISTED_LIMITS`] of `limits`: all of them in their order when they fit, else the
/// tightest first; and how many were left out.
fn listed(mut limits: Vec<LimitStatus>) -> (Vec<LimitStatus>, usize) {
    if limits.len() <= MAX_LISTED_LIMITS {
        return (limits, 0);
    }
    limits.sort_by_key(|l| l.remaining.map_or((1, 0), |left| (0, left)));
    let omitted = limits.len() - MAX_LISTED_LIMITS;
    limits.truncate(MAX_LISTED_LIMITS);
    (limits, omitted)
}

/// The engine's answer. Admitted: every limit that applies; refused: the limits that refused.
/// At most [`MAX_LISTED_LIMITS`] are listed, the tightest first when there are more.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDecision {
    pub allowed: bool,
    pub limits: Vec<LimitUsage>,
    /// How many limits were left out of `limits` (at most 100 are listed).
    #[serde(skip_serializing_if = "is_zero")]
    pub limits_omitted: usize,
    /// Shadow limits that would have refused (they never do).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_refuse: Vec<String>,
    /// With `?explain=true`: every limit that matched and its part in the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<ExplainedLimit>>,
}

/// A lease granted.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseCreated {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub limits: Vec<LimitUsage>,
    /// How many limits were left out of `limits` (at most 100 are listed).
    #[serde(skip_serializing_if = "is_zero")]
    pub limits_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn usage(
    subject: BTreeMap<String, String>,
    metric: String,
    amount: i64,
    field: &str,
) -> Result<Usage, ApiError> {
    let subject = Subject::parse(subject, "/subject")?;
    Ok(Usage::new(subject, metric, amount, field)?)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::from(Error::Invalid {
                    field: crate::domain::Field::Header("Idempotency-Key".into()),
                    message: "must be visible ASCII".into(),
                })
            })
        })
        .transpose()
}

/// 200 with the decision when admitted; when refused, 429 with the `quota-exceeded` problem
/// (the decision's fields as extension members) and `Retry-After`. Either way, one draft-11
/// `RateLimit-Policy`/`RateLimit` item per limit the decision lists (`unit`: the quota unit).
fn answer(
    decision: Decision,
    admitted: StatusCode,
    now: DateTime<Utc>,
    unit: Option<&'static str>,
) -> Response {
    let (limits, limits_omitted) = listed(decision.limits);
    let standings: Vec<PolicyStanding> = limits
        .iter()
        .filter_map(|l| PolicyStanding::of_limit(l, now, unit))
        .collect();
    let retry_after = decision.retry_after;
    let replayed = decision.replayed;
    let explain = decision
        .explain
        .map(|e| e.into_iter().map(ExplainedLimit::from).collect::<Vec<_>>());
    let mut response = match decision.lease {
        _ if !decision.allowed => refused((limits, limits_omitted), decision.would_refuse, explain),
        Some(lease) => (
            admitted,
            axum::Json(LeaseCreated {
                id: lease.id,
                expires_at: lease.expires_at,
                limits: limits.into_iter().map(Into::into).collect(),
                limits_omitted,
            }),
        )
            .into_response(),
        None => (
            admitted,
            axum::Json(UsageDecision {
                allowed: decision.allowed,
                limits: limits.into_iter().map(Into::into).collect(),
                limits_omitted,
                would_refuse: decision.would_refuse,
                explain,
            }),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    ratelimit_headers::append(headers, &standings);
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response.extensions_mut().insert(Deliberate);
    response
}

/// A refusal by one or more limits: RFC 9457 with the IETF `quota-exceeded` type.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaExceededProblem {
    /// `https://iana.org/assignments/http-problem-types#quota-exceeded`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    /// 429.
    pub status: u16,
    pub detail: String,
    /// The ids of the limits that refused, as named in `RateLimit-Policy`.
    #[serde(rename = "violated-policies")]
    pub violated_policies: Vec<String>,
    /// Always false.
    pub allowed: bool,
    /// The limits that refused, with where they stand (at most 100).
    pub limits: Vec<LimitUsage>,
    /// How many refusing limits were left out of `limits`.
    #[serde(skip_serializing_if = "is_zero")]
    pub limits_omitted: usize,
    /// Shadow limits that would have refused too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_refuse: Vec<String>,
    /// With `?explain=true`: every limit that matched and its part in the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<ExplainedLimit>>,
}

fn refused(
    (limits, limits_omitted): (Vec<LimitStatus>, usize),
    would_refuse: Vec<String>,
    explain: Option<Vec<ExplainedLimit>>,
) -> Response {
    let violated: Vec<String> = limits.iter().map(|l| l.quota_id.clone()).collect();
    let problem = QuotaExceededProblem {
        kind: ratelimit_headers::QUOTA_EXCEEDED,
        title: "Quota Exceeded",
        status: 429,
        detail: format!("refused by: {}", violated.join(", ")),
        violated_policies: violated,
        allowed: false,
        limits: limits.into_iter().map(Into::into).collect(),
        limits_omitted,
        would_refuse,
        explain,
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Whether `amount` more would be admitted now; changes nothing.
#[utoipa::path(post, path = "/v1/usage/check", tag = "usage", request_body = UsageRequest,
    params(ExplainParams),
    responses((status = 200, body = UsageDecision), (status = 429, body = QuotaExceededProblem, content_type = "application/problem+json"),
        (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    explain: Explain,
    Json(body): Json<UsageRequest>,
) -> Result<Response, ApiError> {
    let explain = explain.wanted()?;
    let usage = usage(body.subject, body.metric, body.amount, "amount")?;
    let applying = authority::authorize(&state.engine, &caller, UsageAct::Check, &usage).await?;
    let decision = state
        .engine
        .check_explained(caller.tenant_id, &usage, applying, explain)
        .await?;
    Ok(answer(decision, StatusCode::OK, state.clock.now(), None))
}

/// Counts `amount` against every limit that applies, or nothing when a blocking one would pass.
#[utoipa::path(post, path = "/v1/usage/consume", tag = "usage", request_body = UsageRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key and body within 24 hours returns the first decision"),
        ExplainParams),
    responses((status = 200, body = UsageDecision), (status = 429, body = QuotaExceededProblem, content_type = "application/problem+json"),
        (status = 403, body = Problem),
        (status = 409, body = Problem, description = "A new `per` partition past its limit's bound (`--max-partitions-per-limit`)"),
        (status = 422, body = Problem)))]
pub async fn consume(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    explain: Explain,
    Json(body): Json<UsageRequest>,
) -> Result<Response, ApiError> {
    let explain = explain.wanted()?;
    let usage = usage(body.subject, body.metric, body.amount, "amount")?;
    let key = idempotency_key(&headers)?;
    let applying = authority::authorize(&state.engine, &caller, UsageAct::Count, &usage).await?;
    let decision = state
        .engine
        .consume_explained(caller.tenant_id, &usage, applying, key, explain)
        .await?;
    Ok(answer(decision, StatusCode::OK, state.clock.now(), None))
}

/// Sets a gauge to `value` on every limit that applies; never refused for being over. Needs
/// `admin` or `reporter`, and never sets what quotaplane counts itself (403).
#[utoipa::path(post, path = "/v1/usage/report", tag = "usage", request_body = ReportRequest,
    responses((status = 200, body = UsageDecision), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "A new `per` partition past its limit's bound (`--max-partitions-per-limit`)"),
        (status = 422, body = Problem)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ReportRequest>,
) -> Result<Response, ApiError> {
    let usage = usage(body.subject, body.metric, body.value, "value")?;
    let applying = authority::authorize(&state.engine, &caller, UsageAct::SetLevel, &usage).await?;
    let decision = state
        .engine
        .report(caller.tenant_id, &usage, Some(applying))
        .await?;
    Ok(answer(decision, StatusCode::OK, state.clock.now(), None))
}

/// Holds units of a concurrency limit until released or `ttl_seconds` pass.
#[utoipa::path(post, path = "/v1/leases", tag = "usage", request_body = LeaseRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key and body within 24 hours returns the first decision")),
    responses((status = 201, body = LeaseCreated), (status = 429, body = QuotaExceededProblem, content_type = "application/problem+json"),
        (status = 403, body = Problem),
        (status = 409, body = Problem, description = "The tenant holds as many open leases as it may (`--max-open-leases-per-tenant`), or a new `per` partition past its limit's bound (`--max-partitions-per-limit`)"),
        (status = 422, body = Problem)))]
pub async fn acquire(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<LeaseRequest>,
) -> Result<Response, ApiError> {
    let usage = usage(body.subject, body.metric, body.amount, "amount")?;
    let ttl = TimeDelta::try_seconds(body.ttl_seconds).unwrap_or(TimeDelta::MAX);
    let key = idempotency_key(&headers)?;
    let applying = authority::authorize(&state.engine, &caller, UsageAct::Count, &usage).await?;
    let open = state
        .store
        .count_open_leases(caller.tenant_id, state.clock.now().timestamp_millis())
        .await?;
    state.settings.bounds.admit_lease(open)?;
    let decision = state
        .engine
        .acquire(caller.tenant_id, &usage, applying, ttl, key)
        .await?;
    Ok(answer(
        decision,
        StatusCode::CREATED,
        state.clock.now(),
        Some(CONCURRENT_REQUESTS),
    ))
}

/// Gives a lease's units back.
#[utoipa::path(delete, path = "/v1/leases/{id}", tag = "usage", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("lease"))?;
    state.engine.release(caller.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
