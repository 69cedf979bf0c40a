//! The batcher: a task per lane that turns whatever has queued into one transaction.
//!
//! Which jobs go together is [`Lanes`]'s: fair between tenants, and a job that touches many
//! counters never in a batch with small ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use super::batch::BatchReads;
use super::waiting::Lanes;
use super::{Job, Operation, decide};
use crate::domain::clock::SharedClock;
use crate::domain::ports::*;
use crate::domain::{Error, Result};

/// Most operations queued before callers wait for room.
pub const QUEUE_DEPTH: usize = 16_384;
/// Most operations in one batch.
pub const MAX_BATCH: usize = 1024;
/// Most counter touches (a job's matched limits, at least 1 a job) in one batch; a single job
/// past it makes a batch of its own.
pub const MAX_BATCH_TOUCHES: usize = 4096;
/// Most jobs drawn from the queue and waiting for a batch (the rest wait in the queue).
const MAX_WAITING: usize = 4 * MAX_BATCH;
/// How often a batch is tried again after a transient failure (a deadlock between replicas).
const ATTEMPTS: usize = 3;

/// Runs until every sender is gone and every drawn job is answered.
/// `outbox` is signalled after a batch that wrote due notifications commits; no batch makes a
/// `per` partition past `partitions_per_limit`.
pub async fn run<S: LimitStore>(
    store: S,
    clock: SharedClock,
    mut queue: mpsc::Receiver<Job>,
    outbox: Arc<Notify>,
    partitions_per_limit: i64,
) {
    let mut waiting = Lanes::default();
    let mut drawn = Vec::with_capacity(MAX_BATCH);
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        if waiting.len() == 0 {
            if queue.recv_many(&mut drawn, MAX_BATCH).await == 0 {
                break;
            }
        } else {
            while waiting.len() + drawn.len() < MAX_WAITING {
                match queue.try_recv() {
                    Ok(job) => drawn.push(job),
                    Err(_) => break,
                }
            }
        }
        for job in drawn.drain(..) {
            waiting.push(job.tenant_id, job.matched.len(), job);
        }
        waiting.next_batch(&mut jobs, MAX_BATCH, MAX_BATCH_TOUCHES);
        // A job whose caller went away while it queued (the request was cancelled: its client
        // hung up or timed out) is dropped unanswered: it counts nothing and takes no batch's
        // time from the jobs still awaited (a tenant's queue of jobs its clients abandoned
        // held up another server's share of the database for seconds).
        let drawn_jobs = jobs.len();
        jobs.retain(Job::awaited);
        if jobs.len() < drawn_jobs {
            metrics::counter!("quotaplane_engine_abandoned_total")
                .increment((drawn_jobs - jobs.len()) as u64);
        }
        if jobs.is_empty() {
            continue;
        }
        metrics::gauge!("quotaplane_engine_queue_depth").set((queue.len() + waiting.len()) as f64);
        metrics::histogram!("quotaplane_engine_batch_size").record(jobs.len() as f64);
        let started = Instant::now();
        let (answers, notified) = process(&store, &clock, &jobs, partitions_per_limit).await;
        metrics::histogram!("quotaplane_engine_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if notified {
            outbox.notify_one();
        }
        for (job, answer) in jobs.drain(..).zip(answers) {
            if let Some(reply) = job.reply {
                let _ = reply.send(answer);
            }
        }
    }
}

/// Each job's answer, and whether due notifications were written.
async fn process<S: LimitStore>(
    store: &S,
    clock: &SharedClock,
    jobs: &[Job],
    partitions_per_limit: i64,
) -> (Vec<Result<super::Decision>>, bool) {
    let now = clock.now();
    let mut reads = reads_of(jobs, now.timestamp_millis());
    reads.partitions_per_limit = Some(partitions_per_limit);
    let mut last_error = Error::Internal("no attempt".into());
    for attempt in 1..=ATTEMPTS {
        let mut answers = Vec::new();
        let mut notified = false;
        let outcome = store
            .run_batch(&reads, &mut |state| {
                let (writes, decided) =
                    decide::decide(jobs, state, now, reads.partitions_per_limit);
                answers = decided;
                notified = !writes.outbox.is_empty();
                writes
            })
            .await;
        match outcome {
            Ok(()) => return (answers, notified),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "usage batch failed");
                last_error = e;
            }
        }
    }
    (
        jobs.iter().map(|_| Err(last_error.clone())).collect(),
        false,
    )
}

/// Everything the batch must lock and read, sorted so that replicas lock in the same order.
fn reads_of(jobs: &[Job], now_ms: i64) -> BatchReads {
    let mut counters = BTreeMap::new();
    let mut reads = BatchReads {
        now_ms,
        ..BatchReads::default()
    };
    let mut notified = std::collections::BTreeSet::new();
    let mut writable = std::collections::BTreeSet::new();
    let mut previous = BTreeMap::new();
    for job in jobs {
        for m in &job.matched {
            counters.insert(m.key.clone(), m.period_end);
            if job.operation != Operation::Check {
                writable.insert(&m.key);
            }
            if !m.rules.is_empty() {
                notified.insert(m.key.clone());
            }
            if let Some(start) = super::alerts::previous_period(m) {
                previous.insert(m.key.clone(), start);
            }
        }
        if let Some((key, _)) = &job.idempotency {
            if !reads.idempotency.contains(key) {
                reads.idempotency.push(key.clone());
            }
        }
        match job.operation {
            Operation::Release { lease_id } => reads.releases.push((job.tenant_id, lease_id)),
            Operation::Acquire { .. } => reads.expire_leases = true,
            _ => {}
        }
    }
    reads.writable = counters.keys().map(|k| writable.contains(k)).collect();
    reads.counters = counters.into_iter().collect();
    reads.notified = notified.into_iter().collect();
    reads.previous = previous.into_iter().collect();
    reads
}
