//! One consumer's call to a deployment, enforced through the usage engine in one decision.
//!
//! The call is four usages of the subject `{deployment, consumer_type, consumer_id}`, decided
//! together, all or nothing ([`Engine::decide_together`]): its input length is checked against
//! `inputSequenceLength` (a ceiling, never counted), a lease of one unit is taken on
//! `concurrentRequests` (the caller releases it with `DELETE /v1/leases/{id}` when the call ends,
//! or it expires), and one request and the call's tokens are counted. Which limits apply is the
//! engine's precedence (see [`super::limits`]): so `POST /v1/usage/consume` with the same
//! subject and metric enforces exactly the same limits, and a call refused for its tokens has
//! counted nothing.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::limits::{Applies, call_subject, is_saturation_limit, metric};
use super::service::quota_of_deployment;
use super::{ConsumerType, RuleKind};
use crate::domain::Result;
use crate::domain::ports::EngineStore;
use crate::domain::usage::{Engine, LeaseGrant, LimitStatus, Take, Usage, UsagePart};

/// A call as the deployment's gateway reports it.
#[derive(Debug, Clone)]
pub struct Call {
    pub consumer_type: ConsumerType,
    pub consumer_id: String,
    /// Tokens the call uses (0 when the quota counts no tokens).
    pub tokens: i64,
    /// The call's input length, when the gateway knows it.
    pub input_sequence_length: Option<i64>,
    /// How long a concurrency lease lasts if never released.
    pub lease_ttl: TimeDelta,
}

/// The answer for one call.
#[derive(Debug, Clone)]
pub struct CallDecision {
    pub allowed: bool,
    /// The quota that governs the deployment, if any.
    pub quota_id: Option<String>,
    /// Whose rules applied: the consumer's own policy or the default rules.
    pub applies: Applies,
    /// Whether the deployment was found saturated (so a reservation was drawn on, or the call
    /// refused).
    pub saturated: bool,
    /// Refused: the kind of rule that refused (`None` when the saturation limit did).
    pub refused_by: Option<RuleKind>,
    /// Admitted: every limit that applied; refused: those that refused.
    pub limits: Vec<LimitStatus>,
    pub retry_after: Option<u64>,
    /// The concurrency lease, when the rules have a `concurrentRequests` rule.
    pub lease: Option<LeaseGrant>,
}

/// Enforces one call of a consumer to `deployment`. Without a quota the call is admitted.
pub async fn admit_call<S: EngineStore>(
    store: &S,
    engine: &Engine<S>,
    tenant_id: Uuid,
    deployment: &str,
    call: &Call,
) -> Result<CallDecision> {
    let Some(quota) = quota_of_deployment(store, tenant_id, deployment).await? else {
        return Ok(CallDecision {
            allowed: true,
            quota_id: None,
            applies: Applies::Default,
            saturated: false,
            refused_by: None,
            limits: Vec::new(),
            retry_after: None,
            lease: None,
        });
    };
    let applies = match quota.policy_of(call.consumer_type, &call.consumer_id) {
        Some(_) => Applies::Own,
        None => Applies::Default,
    };
    let subject = call_subject(&quota.resource_id, call.consumer_type, &call.consumer_id);
    let usage = |kind: RuleKind, amount: i64| {
        Usage::new(subject.clone(), metric(kind).to_owned(), amount, "amount")
    };
    let mut usages = Vec::with_capacity(4);
    if let Some(length) = call.input_sequence_length {
        usages.push((usage(RuleKind::InputSequenceLength, length)?, Take::Check));
    }
    usages.push((usage(RuleKind::ConcurrentRequests, 1)?, Take::Hold));
    usages.push((usage(RuleKind::Requests, 1)?, Take::Count));
    if call.tokens > 0 {
        usages.push((usage(RuleKind::Token, call.tokens)?, Take::Count));
    }
    let parts: Vec<UsagePart<'_>> = usages
        .iter()
        .map(|(usage, take)| UsagePart { usage, take: *take })
        .collect();
    let decision = engine
        .decide_together(tenant_id, &parts, call.lease_ttl)
        .await?;
    let saturated = decision
        .limits
        .iter()
        .any(|l| !decision.allowed && is_saturation_limit(&quota.id, &l.quota_id));
    // The kind of the first refusing rule, in the order a gateway checks them.
    let refused_by = (!decision.allowed && !saturated)
        .then(|| {
            [
                RuleKind::InputSequenceLength,
                RuleKind::ConcurrentRequests,
                RuleKind::Requests,
                RuleKind::Token,
            ]
            .into_iter()
            .find(|kind| decision.limits.iter().any(|l| l.metric == metric(*kind)))
        })
        .flatten();
    Ok(CallDecision {
        allowed: decision.allowed,
        quota_id: Some(quota.id.clone()),
        applies,
        saturated,
        refused_by,
        limits: decision.limits,
        retry_after: decision.retry_after,
        lease: decision.lease,
    })
}

impl CallDecision {
    /// When the call's lease, if any, expires.
    pub fn lease_expiry(&self) -> Option<DateTime<Utc>> {
        self.lease.map(|l| l.expires_at)
    }
}
