//! The batcher: one task per process that turns whatever has queued into one transaction.

use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use super::batch::BatchReads;
use super::{Job, Operation, decide};
use crate::domain::clock::SharedClock;
use crate::domain::ports::*;
use crate::domain::{Error, Result};
use crate::store::AnyStore;

/// Most operations queued before callers wait for room.
pub const QUEUE_DEPTH: usize = 16_384;
/// Most operations in one batch.
pub const MAX_BATCH: usize = 1024;
/// How often a batch is tried again after a transient failure (a deadlock between replicas).
const ATTEMPTS: usize = 3;

/// Runs until every sender is gone.
/// `outbox` is signalled after a batch that wrote due notifications commits.
pub async fn run(
    store: AnyStore,
    clock: SharedClock,
    mut queue: mpsc::Receiver<Job>,
    outbox: Arc<Notify>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        metrics::gauge!("quotaplane_engine_queue_depth").set(queue.len() as f64);
        metrics::histogram!("quotaplane_engine_batch_size").record(jobs.len() as f64);
        let started = Instant::now();
        let (answers, notified) = process(&store, &clock, &jobs).await;
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
async fn process(
    store: &AnyStore,
    clock: &SharedClock,
    jobs: &[Job],
) -> (Vec<Result<super::Decision>>, bool) {
    let now = clock.now();
    let reads = reads_of(jobs, now.timestamp_millis());
    let mut last_error = Error::Internal("no attempt".into());
    for attempt in 1..=ATTEMPTS {
        let mut answers = Vec::new();
        let mut notified = false;
        let outcome = store
            .run_batch(&reads, &mut |state| {
                let (writes, decided) = decide::decide(jobs, state, now);
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
    for job in jobs {
        for m in &job.matched {
            counters.insert(m.key.clone(), m.period_end);
            if job.operation != Operation::Check {
                writable.insert(&m.key);
            }
            if !m.rules.is_empty() {
                notified.insert(m.key.clone());
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
    reads
}
