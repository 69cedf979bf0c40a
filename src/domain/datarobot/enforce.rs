//! One consumer's call to a deployment, enforced through the usage engine.
//!
//! In order, each step only when the consumer's rules (its policy's, else the default ones)
//! have a rule of that kind, and stopping at the first refusal:
//! 1. `inputSequenceLength`: the call's input length is checked against the ceiling (an engine
//!    check, which never counts anything).
//! 2. `concurrentRequests`: a lease of one unit is acquired; the caller releases it with
//!    `DELETE /v1/leases/{id}` when the call ends (or it expires).
//! 3. `requests`: one unit is consumed.
//! 4. `token`: the call's tokens are consumed.
//!
//! A refusal at step 3 or 4 gives the lease of step 2 back. Each step is exact on its own, but
//! the steps are separate engine operations: a call refused for tokens has still counted its
//! request.
//!
//! Guaranteed quotas: steps 3 and 4 run in the `shared` phase, where the deployment-wide limit
//! of `saturationThreshold * capacity` a minute counts every consumer. When that limit alone
//! refuses (the deployment is saturated), a consumer whose policy has `reserved = r` is tried
//! again in the `reserved` phase, against its own `r * capacity` a minute instead; consumers
//! without a reservation are refused.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::limits::{Applies, call_subject, capacity_metric, metric, saturation_limit_id};
use super::service::quota_of_deployment;
use super::{ConsumerType, Quota, RuleKind};
use crate::domain::Result;
use crate::domain::usage::{Decision, Engine, LeaseGrant, LimitStatus, Usage};
use crate::store::AnyStore;

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

struct Context<'a> {
    engine: &'a Engine,
    tenant_id: Uuid,
    quota: &'a Quota,
    call: &'a Call,
    applies: Applies,
    reserved: bool,
}

impl Context<'_> {
    fn usage(&self, kind: RuleKind, amount: i64, reserved_phase: bool) -> Result<Usage> {
        let subject = call_subject(
            &self.quota.resource_id,
            self.call.consumer_type,
            &self.call.consumer_id,
            self.applies,
            reserved_phase,
        );
        Usage::new(subject, metric(kind).to_owned(), amount, "amount")
    }

    /// Consumes in the shared phase; when only the saturation limit refuses and the consumer
    /// has a reservation, consumes in the reserved phase instead. The flag: saturated.
    async fn consume(&self, kind: RuleKind, amount: i64) -> Result<(Decision, bool)> {
        let shared = self
            .engine
            .consume(self.tenant_id, &self.usage(kind, amount, false)?, None)
            .await?;
        if shared.allowed {
            return Ok((shared, false));
        }
        let saturation = saturation_limit_id(&self.quota.id);
        let only_saturated = shared.limits.iter().all(|l| l.quota_id == saturation);
        let on_capacity = self
            .quota
            .saturation()
            .is_some_and(|(c, _)| capacity_metric(c.units) == metric(kind));
        if !(only_saturated && on_capacity) {
            return Ok((shared, false));
        }
        if !self.reserved {
            return Ok((shared, true));
        }
        let reserved = self
            .engine
            .consume(self.tenant_id, &self.usage(kind, amount, true)?, None)
            .await?;
        Ok((reserved, true))
    }
}

/// Enforces one call of a consumer to `deployment`. Without a quota the call is admitted.
pub async fn admit_call(
    store: &AnyStore,
    engine: &Engine,
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
    let policy = quota.policy_of(call.consumer_type, &call.consumer_id);
    let rules = policy.map_or(&quota.default_rules, |p| &p.rules);
    let has = |kind| rules.iter().any(|r| r.rule == kind);
    let counts_capacity = |kind| {
        quota
            .saturation()
            .is_some_and(|(c, _)| capacity_metric(c.units) == metric(kind))
    };
    let cx = Context {
        engine,
        tenant_id,
        quota: &quota,
        call,
        applies: if policy.is_some() {
            Applies::Own
        } else {
            Applies::Default
        },
        reserved: policy.is_some_and(|p| p.reserved.is_some()),
    };
    let mut outcome = CallDecision {
        allowed: true,
        quota_id: Some(quota.id.clone()),
        applies: cx.applies,
        saturated: false,
        refused_by: None,
        limits: Vec::new(),
        retry_after: None,
        lease: None,
    };

    if let (Some(length), true) = (
        call.input_sequence_length,
        has(RuleKind::InputSequenceLength),
    ) {
        let usage = cx.usage(RuleKind::InputSequenceLength, length, false)?;
        let decision = engine.check(tenant_id, &usage).await?;
        if !outcome.take(decision, RuleKind::InputSequenceLength) {
            return Ok(outcome);
        }
    }
    if has(RuleKind::ConcurrentRequests) {
        let usage = cx.usage(RuleKind::ConcurrentRequests, 1, false)?;
        let decision = engine
            .acquire(tenant_id, &usage, call.lease_ttl, None)
            .await?;
        outcome.lease = decision.lease;
        if !outcome.take(decision, RuleKind::ConcurrentRequests) {
            return Ok(outcome);
        }
    }
    for (kind, amount) in [(RuleKind::Requests, 1), (RuleKind::Token, call.tokens)] {
        if amount == 0 || !(has(kind) || counts_capacity(kind)) {
            continue;
        }
        let (decision, saturated) = cx.consume(kind, amount).await?;
        outcome.saturated |= saturated;
        let by_saturation = saturated && !decision.allowed;
        if !outcome.take(decision, kind) {
            if by_saturation {
                outcome.refused_by = None;
            }
            if let Some(lease) = outcome.lease.take() {
                engine.release(tenant_id, lease.id).await?;
            }
            return Ok(outcome);
        }
    }
    Ok(outcome)
}

impl CallDecision {
    /// Folds one step's decision in; false when it refused (the outcome is then the refusal).
    fn take(&mut self, decision: Decision, kind: RuleKind) -> bool {
        if decision.allowed {
            self.limits.extend(decision.limits);
            return true;
        }
        self.allowed = false;
        self.refused_by = Some(kind);
        self.limits = decision.limits;
        self.retry_after = decision.retry_after;
        false
    }

    /// When the call's lease, if any, expires.
    pub fn lease_expiry(&self) -> Option<DateTime<Utc>> {
        self.lease.map(|l| l.expires_at)
    }
}
