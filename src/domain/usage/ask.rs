//! What a usage request asks of the engine, and how the engine runs it: the limits that apply
//! (looked up once, and the same limits authorized and counted), and the operations (check,
//! consume, report, lease, refund) each matched against them and answered at once or queued.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{
    CachedLimit, Decision, Engine, Job, MAX_LEASE_SECONDS, Matched, Operation, Take, Usage,
    UsagePart, explain, idempotency, path,
};
use crate::domain::ports::EngineStore;
use crate::domain::{Error, Result};

/// The limits that apply to one usage, looked up once ([`Engine::applying`]): a caller is
/// authorized against them (`authority::authorize`) and the engine then counts exactly them,
/// with no second look-up for a limit made meanwhile to slip in through.
pub struct Applying(Vec<Arc<CachedLimit>>);

impl Applying {
    /// The limits, as the cache holds them.
    pub fn limits(&self) -> impl Iterator<Item = &CachedLimit> {
        self.0.iter().map(|l| &**l)
    }

    /// Whether no limit applies.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one usage request asks of the engine, beside its usage.
struct Ask<'a> {
    operation: Operation,
    idempotency_key: Option<&'a str>,
    /// Each matching limit's part in the decision, with it.
    explain: bool,
    /// The limits the request was authorized against, when looked up already.
    applying: Option<Applying>,
}

impl<'a> Ask<'a> {
    fn plain(operation: Operation) -> Self {
        Self {
            operation,
            idempotency_key: None,
            explain: false,
            applying: None,
        }
    }

    fn key(self, idempotency_key: Option<&'a str>) -> Self {
        Self {
            idempotency_key,
            ..self
        }
    }

    fn explained(self, explain: bool) -> Self {
        Self { explain, ..self }
    }

    fn against(self, applying: Option<Applying>) -> Self {
        Self { applying, ..self }
    }
}

impl<S: EngineStore> Engine<S> {
    /// The limits that apply to `usage` now (from the limit cache), to authorize it against and
    /// then hand to the engine with it.
    pub async fn applying(&self, tenant_id: Uuid, usage: &Usage) -> Result<Applying> {
        self.limits
            .matching(&self.store, tenant_id, &usage.subject, &usage.metric)
            .await
            .map(Applying)
    }

    /// Gives back `amount` units counted at `at` (in the period of `at`, never below 0).
    pub async fn refund(&self, tenant_id: Uuid, usage: &Usage, at: DateTime<Utc>) -> Result<()> {
        self.run_at(tenant_id, usage, Ask::plain(Operation::Refund), at)
            .await
            .map(drop)
    }

    /// Whether `amount` more would be admitted now. Changes nothing.
    pub async fn check(&self, tenant_id: Uuid, usage: &Usage) -> Result<Decision> {
        self.run(tenant_id, usage, Ask::plain(Operation::Check))
            .await
    }

    /// [`Engine::check`] against the limits `applying` (looked up for `usage` by
    /// [`Engine::applying`]), with each one's part in the decision when `explain`.
    pub async fn check_explained(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        applying: Applying,
        explain: bool,
    ) -> Result<Decision> {
        self.run(
            tenant_id,
            usage,
            Ask::plain(Operation::Check)
                .explained(explain)
                .against(Some(applying)),
        )
        .await
    }

    /// [`Engine::consume`] against the limits `applying` (looked up for `usage` by
    /// [`Engine::applying`]), with each one's part in the decision when `explain`.
    pub async fn consume_explained(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        applying: Applying,
        idempotency_key: Option<&str>,
        explain: bool,
    ) -> Result<Decision> {
        self.run(
            tenant_id,
            usage,
            Ask::plain(Operation::Consume)
                .key(idempotency_key)
                .explained(explain)
                .against(Some(applying)),
        )
        .await
    }

    /// Counts `amount` against every applying limit, or nothing if any blocking one would pass.
    pub async fn consume(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        idempotency_key: Option<&str>,
    ) -> Result<Decision> {
        self.run(
            tenant_id,
            usage,
            Ask::plain(Operation::Consume).key(idempotency_key),
        )
        .await
    }

    /// Sets a gauge: every applying limit's usage becomes `amount` (the limits `applying` when
    /// given, else those that apply now). Never refused.
    pub async fn report(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        applying: Option<Applying>,
    ) -> Result<Decision> {
        self.run(
            tenant_id,
            usage,
            Ask::plain(Operation::Report).against(applying),
        )
        .await
    }

    /// Holds `amount` units of every limit of `applying` (looked up for `usage`) until released
    /// or `ttl` passes.
    pub async fn acquire(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        applying: Applying,
        ttl: TimeDelta,
        idempotency_key: Option<&str>,
    ) -> Result<Decision> {
        if usage.amount < 1 {
            // A lease of nothing holds nothing, but would be a row kept until it expires.
            return Err(Error::invalid_body(
                "/amount",
                "a lease holds 1 unit or more",
            ));
        }
        if ttl < TimeDelta::seconds(1) || ttl > TimeDelta::seconds(MAX_LEASE_SECONDS) {
            return Err(Error::invalid_body(
                "/ttl_seconds",
                format!("must be between 1 and {MAX_LEASE_SECONDS}"),
            ));
        }
        let operation = Operation::Acquire {
            lease_id: Uuid::new_v4(),
            expires_at: self.clock.now() + ttl,
        };
        self.run(
            tenant_id,
            usage,
            Ask::plain(operation)
                .key(idempotency_key)
                .against(Some(applying)),
        )
        .await
    }

    /// Gives back a lease's units.
    pub async fn release(&self, tenant_id: Uuid, lease_id: Uuid) -> Result<()> {
        let job = Job {
            tenant_id,
            operation: Operation::Release { lease_id },
            matched: Vec::new(),
            idempotency: None,
            reply: None,
        };
        self.submit(job, "lease").await.map(drop)
    }

    async fn run(&self, tenant_id: Uuid, usage: &Usage, ask: Ask<'_>) -> Result<Decision> {
        let now = self.clock.now();
        self.run_at(tenant_id, usage, ask, now).await
    }

    async fn run_at(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        ask: Ask<'_>,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        let Ask {
            operation,
            idempotency_key,
            explain,
            applying,
        } = ask;
        let Applying(found) = match applying {
            Some(applying) => applying,
            None => self.applying(tenant_id, usage).await?,
        };
        let (limits, replaced) = crate::domain::precedence::resolve(found, now, |l| &**l);
        // A metrics label: the kind of the limits' owner, never a tenant-chosen name.
        let label = limits.first().map_or("none", |limit| {
            crate::domain::authority::OwnerKind::of(limit.shape.owner.as_deref()).as_str()
        });
        let idempotency = idempotency_key
            .map(|key| idempotency::idempotency(tenant_id, key, usage, &operation))
            .transpose()?;
        let shadow_all = self.shadow_all.load(Ordering::Relaxed);
        let take = Take::of(&operation);
        let matched: Vec<Matched> = limits
            .into_iter()
            .map(|limit| {
                let part = UsagePart { usage, take };
                self.matched(tenant_id, part, now, limit, shadow_all)
            })
            .collect();
        let explained = explain.then(|| {
            let shells: Vec<Matched> = matched.iter().map(Matched::shell).collect();
            (shells, replaced)
        });
        let job = Job {
            tenant_id,
            operation,
            matched,
            idempotency,
            reply: None,
        };
        let mut decision = if path::answers_at_once(&job) {
            // Nothing to count and nothing to remember: what the batch would answer, now.
            let answer = Ok(Decision::admitted(Vec::new()));
            path::record(
                job.operation.name(),
                label,
                "direct",
                Instant::now(),
                &answer,
            );
            answer?
        } else {
            self.submit(job, label).await?
        };
        if !decision.would_refuse.is_empty() {
            metrics::counter!("quotaplane_usage_would_refuse_total", "owner" => label).increment(1);
        }
        if let Some((matched, replaced)) = explained {
            decision.explain = Some(explain::explain(&matched, &replaced, &decision));
        }
        Ok(decision)
    }
}
