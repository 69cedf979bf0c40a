//! Several usages decided as one: all admitted or none counted. A gateway's call takes a
//! concurrency lease, a request and the call's tokens, and checks the input length, in one
//! decision, so a call refused for its tokens has counted no request. Parts no limit applies to
//! are answered at once, as a single usage is: no queue, no transaction.

use chrono::TimeDelta;
use uuid::Uuid;

use super::{Decision, Engine, Job, MAX_LEASE_SECONDS, Matched, Operation, Take, UsagePart};
use crate::domain::ports::EngineStore;
use crate::domain::{Error, Result};

impl<S: EngineStore> Engine<S> {
    /// Decides `parts` together: when every blocking limit of every part has room, each part's
    /// units are counted, held (one lease for all held parts, for `lease_ttl`) or only checked,
    /// as its [`Take`] says; else nothing is counted and the refusing limits are answered.
    /// Precedence applies to each part's limits as to a single usage's.
    pub async fn decide_together(
        &self,
        tenant_id: Uuid,
        parts: &[UsagePart<'_>],
        lease_ttl: TimeDelta,
    ) -> Result<Decision> {
        let holds = parts.iter().any(|p| p.take == Take::Hold);
        if holds
            && (lease_ttl < TimeDelta::seconds(1)
                || lease_ttl > TimeDelta::seconds(MAX_LEASE_SECONDS))
        {
            return Err(Error::invalid_body(
                "/lease_ttl_seconds",
                format!("must be between 1 and {MAX_LEASE_SECONDS}"),
            ));
        }
        let now = self.clock.now();
        let shadow_all = self.shadow_all.load(std::sync::atomic::Ordering::Relaxed);
        let mut matched: Vec<Matched> = Vec::new();
        let mut label = "none";
        for part in parts {
            let found = self
                .limits
                .matching(
                    &self.store,
                    tenant_id,
                    &part.usage.subject,
                    &part.usage.metric,
                )
                .await?;
            let (limits, _) = crate::domain::precedence::resolve(found, now, |l| &**l);
            if let Some(limit) = limits.first() {
                label =
                    crate::domain::authority::OwnerKind::of(limit.shape.owner.as_deref()).as_str();
            }
            matched.extend(
                limits
                    .into_iter()
                    .map(|limit| self.matched(tenant_id, *part, now, limit, shadow_all)),
            );
        }
        // A lease only when a limit holds units under it: one nobody could release is not made.
        let operation = if matched.iter().any(|m| m.take == Take::Hold) {
            Operation::Acquire {
                lease_id: Uuid::new_v4(),
                expires_at: now + lease_ttl,
            }
        } else {
            Operation::Consume
        };
        let job = Job {
            tenant_id,
            operation,
            matched,
            idempotency: None,
            reply: None,
        };
        if super::path::answers_at_once(&job) {
            // No part has a limit: nothing to count, hold or remember; what the batch would say.
            let answer = Ok(Decision::admitted(Vec::new()));
            let started = std::time::Instant::now();
            super::path::record(job.operation.name(), label, "direct", started, &answer);
            return answer;
        }
        self.submit(job, label).await
    }
}
