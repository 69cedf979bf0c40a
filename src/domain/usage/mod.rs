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

mod alerts;
mod ask;
pub mod batch;
mod batcher;
mod cache;
mod compound;
mod decide;
mod decision;
mod effective;
mod explain;
mod idempotency;
mod job;
mod kept;
mod limits;
mod path;
mod replay;
mod waiting;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use self::batch::{CounterKey, NEVER};
use self::cache::LimitCache;
pub use self::cache::{CachedLimit, Selector, Shape};
use super::bounds::Bounds;
use super::clock::SharedClock;
use super::limit::Mode;
use super::ports::EngineStore;
use super::{Error, Result};

pub use ask::Applying;
pub use decide::{IDEMPOTENCY_TTL, seconds_until};
pub use decision::{Decision, LeaseGrant, LimitStatus, Usage, status_of};
pub use effective::Effective;
pub use explain::{Explained, Part};
pub(crate) use job::{Job, Matched, Operation};
pub use job::{Take, UsagePart};

/// Largest amount one operation may carry.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// Longest lease.
pub const MAX_LEASE_SECONDS: i64 = 7 * 24 * 3600;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The engine: one per process, shared by every surface. Generic over the store `S` that keeps
/// its limits and counters (the domain's ports; the application chooses the implementation).
pub struct Engine<S> {
    store: S,
    clock: SharedClock,
    limits: Arc<LimitCache>,
    /// One queue per batcher (lane); with several, the last is big jobs' own (`path::lane_of`).
    queues: Vec<mpsc::Sender<Job>>,
    /// Checks, read in groups without locks.
    reads: mpsc::Sender<Job>,
    outbox: Arc<Notify>,
    bounds: Bounds,
    /// `--shadow`: every limit reports what it would refuse and refuses nothing.
    shadow_all: AtomicBool,
}

impl<S: EngineStore> Engine<S> {
    /// Starts the engine and its batcher on the current runtime, with the default bounds.
    pub fn start(store: S, clock: SharedClock) -> Arc<Self> {
        Self::start_with(store, clock, Bounds::default())
    }

    /// Starts the engine with `bounds` on what tenants' limit writes may create.
    pub fn start_with(store: S, clock: SharedClock, bounds: Bounds) -> Arc<Self> {
        let outbox = Arc::new(Notify::new());
        let queues = (0..store.batch_lanes().max(1))
            .map(|_| {
                let (queue, jobs) = mpsc::channel(batcher::QUEUE_DEPTH);
                tokio::spawn(batcher::run(
                    store.clone(),
                    clock.clone(),
                    jobs,
                    outbox.clone(),
                    bounds.partitions_per_limit,
                ));
                queue
            })
            .collect();
        let (reads, checks) = mpsc::channel(batcher::QUEUE_DEPTH);
        tokio::spawn(path::read_checks(store.clone(), clock.clone(), checks));
        Arc::new(Self {
            store,
            clock,
            limits: Arc::new(LimitCache::default()),
            queues,
            reads,
            outbox,
            bounds,
            shadow_all: AtomicBool::new(false),
        })
    }

    /// Puts every limit in shadow mode (a dry run in front of a live service), or takes them out.
    pub fn set_shadow_all(&self, on: bool) {
        self.shadow_all.store(on, Ordering::Relaxed);
    }

    /// Forgets cached limits of metrics nobody asked for lately (run periodically; see
    /// [`LimitCache::forget_idle`]).
    pub fn forget_idle_limits(&self) {
        self.limits.forget_idle();
    }

    /// Signalled after a batch that wrote due notifications has committed (the delivery worker
    /// waits on it, besides polling).
    pub fn outbox_written(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// `limit` as a job counts against it: its counter for `usage` in the period of `now`.
    fn matched(
        &self,
        tenant_id: Uuid,
        UsagePart { usage, take }: UsagePart<'_>,
        now: DateTime<Utc>,
        limit: Arc<CachedLimit>,
        shadow_all: bool,
    ) -> Matched {
        let start = limit.shape.window.period_start(now);
        let reset_at = limit.shape.window.next_reset(now);
        Matched {
            key: CounterKey {
                tenant_id,
                limit_id: limit.id.to_string(),
                per_value: limit.partition(&usage.subject),
                period_start: start.timestamp_millis(),
            },
            period_end: reset_at.map_or(NEVER, |at| at.timestamp_millis()),
            reset_at,
            shadow: shadow_all || limit.shape.mode == Mode::Shadow,
            amount: usage.amount,
            take,
            rules: limit.rules.clone(),
            limit,
        }
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
