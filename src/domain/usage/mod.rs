//! The usage engine: check, consume, report and lease against every limit that applies, all or
//! nothing, exactly and durably.
//!
//! Requests are matched against cached limits. One that no limit applies to is answered at once
//! (unless it carries an idempotency key or acquires a lease: those keep their records), and a
//! check reads the committed counters without taking any lock, since it changes nothing.
//!
//! The rest is queued to a batcher: one per process on SQLite (one writer holds the database),
//! several on PostgreSQL, each job routed by its first counter (by its idempotency key when it has
//! one, and every lease operation to the first), so batches on disjoint counters commit side by
//! side. A batcher takes whatever has queued while its previous batch committed (group commit),
//! fairly between tenants, locks each counter the batch touches once and in key order, decides
//! every operation in order in memory ([`decide`]), writes each counter once, commits, and only
//! then answers. So a hot counter costs one row write per batch, not per request; an answer means
//! the usage is on disk; and batchers and replicas on one PostgreSQL stay exact, because each
//! batch holds its counters' row locks for its whole transaction (a job whose counters fall in
//! several lanes is still one transaction: all or nothing).

pub mod batch;
mod batcher;
mod cache;
mod decide;
mod limits;
mod path;
mod replay;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use self::batch::{CounterKey, IdempotencyKey, NEVER};
use self::cache::{LimitCache, Rules};
use super::bounds::Bounds;
use super::clock::SharedClock;
use super::limit::{Limit, Subject, check_name};
use super::ports::LimitStore;
use super::window::Window;
use super::{Error, Field, Result};
use crate::store::AnyStore;

pub use decide::{IDEMPOTENCY_TTL, seconds_until};

/// Largest amount one operation may carry.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// Longest lease.
pub const MAX_LEASE_SECONDS: i64 = 7 * 24 * 3600;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Where one limit stands for a subject, after the operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitStatus {
    /// The limit's id.
    pub quota_id: String,
    pub metric: String,
    /// The ceiling; `None` when unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// What is left; `None` when unlimited.
    pub remaining: Option<i64>,
    /// When the period resets; `None` for windows that never do.
    pub reset_at: Option<DateTime<Utc>>,
    pub window: Window,
}

/// A lease granted by an admitted acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Admitted: every limit that applies. Refused: the limits that refused.
    pub limits: Vec<LimitStatus>,
    /// Refused: seconds until a retry could succeed, when waiting can help.
    pub retry_after: Option<u64>,
    /// An admitted acquire's lease.
    pub lease: Option<LeaseGrant>,
    /// Whether this is the stored answer to an earlier request with the same idempotency key.
    #[serde(skip)]
    pub replayed: bool,
}

impl Decision {
    fn admitted(limits: Vec<LimitStatus>) -> Self {
        Self {
            allowed: true,
            limits,
            retry_after: None,
            lease: None,
            replayed: false,
        }
    }
}

/// What a usage request names: who, what, how much.
#[derive(Debug, Clone)]
pub struct Usage {
    pub subject: Subject,
    pub metric: String,
    /// Units to check, consume or hold; for a report, the gauge's new level.
    pub amount: i64,
}

impl Usage {
    /// Checks the metric and amount (the subject is checked when parsed).
    pub fn new(subject: Subject, metric: String, amount: i64, amount_field: &str) -> Result<Self> {
        check_name(&metric, "/metric")?;
        if !(0..=MAX_AMOUNT).contains(&amount) {
            return Err(Error::invalid_body(
                format!("/{amount_field}"),
                format!("must be between 0 and {MAX_AMOUNT}"),
            ));
        }
        Ok(Self {
            subject,
            metric,
            amount,
        })
    }
}

/// What to do with the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    Check,
    Consume,
    Report,
    Acquire {
        lease_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    Release {
        lease_id: Uuid,
    },
    /// Gives back units counted earlier (never below 0): a metered request that turned out not
    /// to count.
    Refund,
}

impl Operation {
    fn name(&self) -> &'static str {
        match self {
            Operation::Check => "check",
            Operation::Consume => "consume",
            Operation::Report => "report",
            Operation::Acquire { .. } => "acquire",
            Operation::Release { .. } => "release",
            Operation::Refund => "refund",
        }
    }
}

/// One limit a job counts against, in the period it falls in.
pub(crate) struct Matched {
    pub limit: Arc<Limit>,
    pub key: CounterKey,
    pub period_end: i64,
    pub reset_at: Option<DateTime<Utc>>,
    /// The limit's notification rules (often none).
    pub rules: Rules,
}

/// One queued operation and where to send its answer.
pub(crate) struct Job {
    pub tenant_id: Uuid,
    pub operation: Operation,
    pub amount: i64,
    pub matched: Vec<Matched>,
    pub idempotency: Option<(IdempotencyKey, String)>,
    pub reply: Option<oneshot::Sender<Result<Decision>>>,
}

/// A future a [`Preparer`] returns.
pub type Prepared<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Runs before a usage request is matched against limits. A surface whose limits are kept per
/// subject (one set per Waldur user, say) uses it to create a subject's limits on first use, so
/// they apply from the first request on, and to put the subject in the form its limits select on.
pub trait Preparer: Send + Sync {
    /// Whether [`Preparer::prepare`] has anything to do with `usage` (a cheap test, so the hot
    /// path of other metrics pays nothing more).
    fn wants(&self, usage: &Usage) -> bool;

    /// Makes the limits `usage` should meet exist; may rewrite `usage.subject`.
    fn prepare<'a>(
        &'a self,
        engine: &'a Engine,
        tenant_id: Uuid,
        usage: &'a mut Usage,
    ) -> Prepared<'a>;
}

/// The engine: one per process, shared by every surface.
pub struct Engine {
    store: AnyStore,
    clock: SharedClock,
    limits: LimitCache,
    /// One queue per batcher (lane).
    queues: Vec<mpsc::Sender<Job>>,
    /// Checks, read in groups without locks.
    reads: mpsc::Sender<Job>,
    preparers: RwLock<Vec<Arc<dyn Preparer>>>,
    outbox: Arc<Notify>,
    bounds: Bounds,
}

impl Engine {
    /// Starts the engine and its batcher on the current runtime, with the default bounds.
    pub fn start(store: AnyStore, clock: SharedClock) -> Arc<Self> {
        Self::start_with(store, clock, Bounds::default())
    }

    /// Starts the engine with `bounds` on what tenants' limit writes may create.
    pub fn start_with(store: AnyStore, clock: SharedClock, bounds: Bounds) -> Arc<Self> {
        let outbox = Arc::new(Notify::new());
        let queues = (0..store.batch_lanes().max(1))
            .map(|_| {
                let (queue, jobs) = mpsc::channel(batcher::QUEUE_DEPTH);
                tokio::spawn(batcher::run(
                    store.clone(),
                    clock.clone(),
                    jobs,
                    outbox.clone(),
                ));
                queue
            })
            .collect();
        let (reads, checks) = mpsc::channel(batcher::QUEUE_DEPTH);
        tokio::spawn(path::read_checks(store.clone(), clock.clone(), checks));
        Arc::new(Self {
            store,
            clock,
            limits: LimitCache::default(),
            queues,
            reads,
            preparers: RwLock::default(),
            outbox,
            bounds,
        })
    }

    /// Forgets cached limits of metrics nobody asked for lately (run periodically; see
    /// [`LimitCache::forget_idle`]).
    pub fn forget_idle_limits(&self) {
        self.limits.forget_idle();
    }

    /// Adds a hook run before every check, consume, report and acquire (see [`Preparer`]).
    pub fn add_preparer(&self, preparer: Arc<dyn Preparer>) {
        if let Ok(mut preparers) = self.preparers.write() {
            preparers.push(preparer);
        }
    }

    /// `usage` as the preparers leave it (the same request when there are none).
    async fn prepared(&self, tenant_id: Uuid, usage: &Usage) -> Result<Option<Usage>> {
        // Only the preparers that want this request: for every other metric, no clone, no hook.
        let preparers: Vec<Arc<dyn Preparer>> = match self.preparers.read() {
            Ok(all) => all.iter().filter(|p| p.wants(usage)).cloned().collect(),
            Err(_) => Vec::new(),
        };
        if preparers.is_empty() {
            return Ok(None);
        }
        let mut usage = usage.clone();
        for preparer in preparers {
            preparer.prepare(self, tenant_id, &mut usage).await?;
        }
        Ok(Some(usage))
    }

    /// Signalled after a batch that wrote due notifications has committed (the delivery worker
    /// waits on it, besides polling).
    pub fn outbox_written(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// Whether any limit of the tenant applies to `subject` and `metric`: answered from the
    /// limit cache, so a tenant without such limits costs no I/O.
    pub async fn applies(&self, tenant_id: Uuid, subject: &Subject, metric: &str) -> Result<bool> {
        Ok(!self
            .limits
            .matching(&self.store, tenant_id, subject, metric)
            .await?
            .is_empty())
    }

    /// Runs the preparers for `usage` (making the limits it should meet exist) without deciding
    /// anything.
    pub async fn prepare(&self, tenant_id: Uuid, usage: &Usage) -> Result<()> {
        self.prepared(tenant_id, usage).await.map(drop)
    }

    /// The limits that apply to `usage` now (from the limit cache).
    pub async fn applying(&self, tenant_id: Uuid, usage: &Usage) -> Result<Vec<Arc<Limit>>> {
        Ok(self
            .limits
            .matching(&self.store, tenant_id, &usage.subject, &usage.metric)
            .await?
            .into_iter()
            .map(|(limit, _)| limit)
            .collect())
    }

    /// Gives back `amount` units counted at `at` (in the period of `at`, never below 0).
    pub async fn refund(&self, tenant_id: Uuid, usage: &Usage, at: DateTime<Utc>) -> Result<()> {
        self.run_at(tenant_id, usage, Operation::Refund, None, at)
            .await
            .map(drop)
    }

    /// Whether `amount` more would be admitted now. Changes nothing.
    pub async fn check(&self, tenant_id: Uuid, usage: &Usage) -> Result<Decision> {
        self.run(tenant_id, usage, Operation::Check, None).await
    }

    /// Counts `amount` against every applying limit, or nothing if any blocking one would pass.
    pub async fn consume(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        idempotency_key: Option<&str>,
    ) -> Result<Decision> {
        self.run(tenant_id, usage, Operation::Consume, idempotency_key)
            .await
    }

    /// Sets a gauge: every applying limit's usage becomes `amount`. Never refused.
    pub async fn report(&self, tenant_id: Uuid, usage: &Usage) -> Result<Decision> {
        self.run(tenant_id, usage, Operation::Report, None).await
    }

    /// Holds `amount` units of every applying limit until released or `ttl` passes.
    pub async fn acquire(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
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
        self.run(tenant_id, usage, operation, idempotency_key).await
    }

    /// Gives back a lease's units.
    pub async fn release(&self, tenant_id: Uuid, lease_id: Uuid) -> Result<()> {
        let job = Job {
            tenant_id,
            operation: Operation::Release { lease_id },
            amount: 0,
            matched: Vec::new(),
            idempotency: None,
            reply: None,
        };
        self.submit(job, "lease").await.map(drop)
    }

    async fn run(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        operation: Operation,
        idempotency_key: Option<&str>,
    ) -> Result<Decision> {
        let prepared = self.prepared(tenant_id, usage).await?;
        let usage = prepared.as_ref().unwrap_or(usage);
        let now = self.clock.now();
        self.run_at(tenant_id, usage, operation, idempotency_key, now)
            .await
    }

    async fn run_at(
        &self,
        tenant_id: Uuid,
        usage: &Usage,
        operation: Operation,
        idempotency_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        let limits = self
            .limits
            .matching(&self.store, tenant_id, &usage.subject, &usage.metric)
            .await?;
        // A metrics label: the kind of the limits' owner, never a tenant-chosen name.
        let label = limits.first().map_or("none", |(limit, _)| {
            super::authority::OwnerKind::of(limit.owner.as_deref()).as_str()
        });
        let idempotency = idempotency_key
            .map(|key| idempotency(tenant_id, key, usage, &operation))
            .transpose()?;
        let matched = limits
            .into_iter()
            .map(|(limit, rules)| {
                let start = limit.window.period_start(now);
                let reset_at = limit.window.next_reset(now);
                Matched {
                    key: CounterKey {
                        tenant_id,
                        limit_id: limit.id.clone(),
                        per_value: limit.partition(&usage.subject),
                        period_start: start.timestamp_millis(),
                    },
                    period_end: reset_at.map_or(NEVER, |at| at.timestamp_millis()),
                    reset_at,
                    limit,
                    rules,
                }
            })
            .collect();
        let job = Job {
            tenant_id,
            operation,
            amount: usage.amount,
            matched,
            idempotency,
            reply: None,
        };
        if path::answers_at_once(&job) {
            // Nothing to count and nothing to remember: what the batch would answer, now.
            let answer = Ok(Decision::admitted(Vec::new()));
            path::record(
                job.operation.name(),
                label,
                "direct",
                Instant::now(),
                &answer,
            );
            return answer;
        }
        self.submit(job, label).await
    }

    async fn submit(&self, mut job: Job, owner: &'static str) -> Result<Decision> {
        let started = Instant::now();
        let operation = job.operation.name();
        let (tx, rx) = oneshot::channel();
        job.reply = Some(tx);
        let (queue, path) = if job.operation == Operation::Check && job.idempotency.is_none() {
            (&self.reads, "read")
        } else {
            (
                &self.queues[path::lane_of(&job, self.queues.len())],
                "batch",
            )
        };
        queue
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the usage engine has stopped".into()))?;
        let answer = rx
            .await
            .map_err(|_| Error::Unavailable("the usage engine has stopped".into()))?;
        path::record(operation, owner, path, started, &answer);
        answer
    }

    /// The clock the engine reads.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Where `limit` stands with `used` units in the period of `now`.
pub fn status_of(limit: &Limit, used: i64, now: DateTime<Utc>) -> LimitStatus {
    let ceiling = match limit.amount {
        super::limit::Amount::Limited(n) => Some(n),
        super::limit::Amount::Unlimited => None,
    };
    LimitStatus {
        quota_id: limit.id.clone(),
        metric: limit.metric.clone(),
        limit: ceiling,
        used,
        remaining: ceiling.map(|n| (n - used).max(0)),
        reset_at: limit.window.next_reset(now),
        window: limit.window,
    }
}

/// The idempotency key of a request, with the hash that tells its body apart.
fn idempotency(
    tenant_id: Uuid,
    key: &str,
    usage: &Usage,
    operation: &Operation,
) -> Result<(IdempotencyKey, String)> {
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Error::Invalid {
            field: Field::Header("Idempotency-Key".into()),
            message: format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        });
    }
    // Every field is length-prefixed, so no value (whatever bytes it holds) can run into the next.
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(operation.name().as_bytes());
    field(usage.metric.as_bytes());
    field(&usage.amount.to_le_bytes());
    for (k, v) in usage.subject.pairs() {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    let hex = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((
        IdempotencyKey {
            tenant_id,
            key: key.to_owned(),
        },
        hex,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn usage(pairs: &[(&str, &str)]) -> Usage {
        let pairs: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Usage {
            subject: Subject::trusted(pairs),
            metric: "m".into(),
            amount: 1,
        }
    }

    #[test]
    fn two_subjects_never_share_an_idempotency_hash_whatever_bytes_their_values_hold() {
        let hash = |u: &Usage| {
            idempotency(Uuid::nil(), "k", u, &Operation::Consume)
                .map(|(_, h)| h)
                .unwrap_or_default()
        };
        let two_pairs = usage(&[("a", "x"), ("b", "y")]);
        let one_pair = usage(&[("a", "x\0b\u{1}y")]);
        assert_ne!(hash(&two_pairs), hash(&one_pair));
        assert_eq!(hash(&two_pairs), hash(&usage(&[("a", "x"), ("b", "y")])));
    }
}
