//! The batcher: a task per lane that turns whatever has queued into one transaction.
//!
//! Which jobs go together is [`Lanes`]'s: fair between tenants, and a job that touches many
//! counters never in a batch with small ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use super::batch::{BatchReads, CounterKey};
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
    let mut reads = BatchReads {
        now_ms,
        ..BatchReads::default()
    };
    // Every counter touched, in key order (the lock order) by a stable sort, so the last touch
    // of a key gives its period's end; a sort of one vector is several times cheaper than a
    // tree of a big job's thousands of keys.
    let mut touched: Vec<(&CounterKey, i64, bool)> = Vec::new();
    let mut notified = std::collections::BTreeSet::new();
    let mut previous = BTreeMap::new();
    for job in jobs {
        for m in &job.matched {
            touched.push((&m.key, m.period_end, job.operation != Operation::Check));
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
    touched.sort_by(|a, b| a.0.cmp(b.0));
    reads.counters.reserve(touched.len());
    reads.writable.reserve(touched.len());
    for (key, period_end, writes) in touched {
        match reads.counters.last_mut() {
            Some((last, end)) if last == key => {
                *end = period_end;
                let writable = reads.writable.last_mut().expect("one flag per counter");
                *writable |= writes;
            }
            _ => {
                reads.counters.push((key.clone(), period_end));
                reads.writable.push(writes);
            }
        }
    }
    reads.notified = notified.into_iter().collect();
    reads.previous = previous.into_iter().collect();
    reads
}

#[cfg(test)]
mod tests {
    use super::reads_of;
    use crate::domain::usage::Operation;
    use crate::domain::usage::decide::tests::job;

    #[test]
    fn a_batch_reads_each_counter_once_in_key_order_writable_when_any_job_writes_it() {
        let mut late = job(Operation::Consume, 1, &["b"], None);
        late.matched[0].period_end = 7;
        let jobs = [
            job(Operation::Check, 1, &["c", "a"], None),
            job(Operation::Consume, 1, &["b", "a"], None),
            job(Operation::Check, 1, &["c"], None),
            late,
        ];
        let reads = reads_of(&jobs, 0);
        let ids: Vec<&str> = reads
            .counters
            .iter()
            .map(|(k, _)| k.limit_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(reads.writable, [true, true, false]);
        assert_eq!(
            reads.counters[1].1, 7,
            "the last touch gives the period's end"
        );
    }
}
