//! Which way a job goes through the engine: answered at once (no limit applies), read without
//! locks (a check), or queued to one of the batchers; and the metrics every answer is counted in.

use std::collections::BTreeSet;
use std::time::Instant;

use metrics::{Counter, Histogram};

use tokio::sync::mpsc;

use super::batch::{BatchState, CounterKey};
use super::batcher::MAX_BATCH;
use super::kept::Kept;
use super::waiting::BIG_JOB;
use super::{Decision, Job, Operation, decide};
use crate::domain::Result;
use crate::domain::clock::SharedClock;
use crate::domain::ports::LimitStore;

/// Answers queued checks in groups: one consistent read of the union of their counters as last
/// committed, no lock, then each check decided in memory. As exact as a check in a batch, which
/// also sees only committed usage: whether `amount` more fits now. Grouping keeps a hot limit's
/// checks at one read per group rather than one per request.
pub(super) async fn read_checks<S: LimitStore>(
    store: S,
    clock: SharedClock,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let keys: BTreeSet<&CounterKey> = jobs
            .iter()
            .flat_map(|job| job.matched.iter().map(|m| &m.key))
            .collect();
        let keys: Vec<CounterKey> = keys.into_iter().cloned().collect();
        let answers = match store.counter_rows(&keys).await {
            Ok(counters) => {
                let state = BatchState {
                    counters,
                    ..BatchState::default()
                };
                decide::decide(&jobs, &state, clock.now(), None).1
            }
            Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
        };
        for (job, answer) in jobs.drain(..).zip(answers) {
            if let Some(reply) = job.reply {
                let _ = reply.send(answer);
            }
        }
    }
}

/// Whether `job` needs neither the store nor the batcher: no limit applies, no idempotency record
/// is to be kept or replayed, and it makes no lease (a lease is recorded even without limits).
pub(super) fn answers_at_once(job: &Job) -> bool {
    job.matched.is_empty()
        && job.idempotency.is_none()
        && matches!(
            job.operation,
            Operation::Check | Operation::Consume | Operation::Report | Operation::Refund
        )
}

/// Which of `lanes` batchers takes `job`. With several, the last is big jobs' own and the rest
/// are shared: the same shared one for the same idempotency key (so a key's first decision is
/// taken once), the first for leases (whose expiry gives units back outside the counters' lock
/// order), the big jobs' own for a job touching more than [`BIG_JOB`] counters (so small jobs
/// never wait for one's batch, whichever counter they hash to), else the one of its first
/// counter (so jobs on one hot counter share batches).
pub(super) fn lane_of(job: &Job, lanes: usize) -> usize {
    use std::hash::{DefaultHasher, Hash, Hasher};
    if lanes <= 1 {
        return 0;
    }
    // Lanes 0 to `shared - 1` take any job; lane `shared`, the last, is big jobs' own.
    let shared = lanes - 1;
    let mut hash = DefaultHasher::new();
    match (&job.operation, &job.idempotency, job.matched.first()) {
        (Operation::Acquire { .. } | Operation::Release { .. }, _, _) => return 0,
        (_, Some((key, _)), _) => key.hash(&mut hash),
        (_, None, Some(_)) if job.matched.len() > BIG_JOB => return shared,
        (_, None, Some(first)) => first.key.hash(&mut hash),
        (_, None, None) => return 0,
    }
    usize::try_from(hash.finish() % shared as u64).unwrap_or(0)
}

/// Counts a decision and its latency. Labels are the engine's own words (`path`: `batch` for
/// the batcher, `read` for a check read without locks, `direct` for an answer needing no store),
/// never a tenant's.
pub(super) fn record(
    operation: &'static str,
    owner: &'static str,
    path: &'static str,
    started: Instant,
    answer: &Result<Decision>,
) {
    let outcome = match answer {
        Ok(decision) if decision.replayed => "replayed",
        Ok(decision) if decision.allowed => "admitted",
        Ok(_) => "refused",
        Err(_) => "error",
    };
    let metrics = decision_metrics([operation, owner, path, outcome]);
    metrics.latency.record(started.elapsed().as_secs_f64());
    metrics.decisions.increment(1);
    if let Some(by_owner) = metrics.by_owner {
        by_owner.increment(1);
    }
}

/// The metrics of one kind of decision.
#[derive(Clone)]
struct DecisionMetrics {
    latency: Histogram,
    decisions: Counter,
    /// Errors are not counted by owner.
    by_owner: Option<Counter>,
}

/// The metrics of decisions labelled `[operation, owner, path, outcome]`, kept ([`Kept`]).
fn decision_metrics(labels: [&'static str; 4]) -> DecisionMetrics {
    static KEPT: Kept<[&'static str; 4], DecisionMetrics> = Kept::new();
    KEPT.get(labels, || {
        let [operation, owner, path, outcome] = labels;
        DecisionMetrics {
            latency: metrics::histogram!("quotaplane_engine_latency_seconds", "operation" => operation),
            decisions: metrics::counter!("quotaplane_engine_decisions_total",
                "operation" => operation, "outcome" => outcome, "path" => path),
            by_owner: (outcome != "error").then(|| {
                metrics::counter!("quotaplane_usage_decisions_total",
                    "operation" => operation, "owner" => owner, "outcome" => outcome)
            }),
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::usage::batch::IdempotencyKey;

    fn job(operation: Operation, key: Option<&str>) -> Job {
        Job {
            tenant_id: Uuid::nil(),
            operation,
            matched: Vec::new(),
            idempotency: key.map(|k| {
                let key = IdempotencyKey {
                    tenant_id: Uuid::nil(),
                    key: k.into(),
                };
                (key, String::new())
            }),
            reply: None,
        }
    }

    #[test]
    fn one_idempotency_key_always_meets_one_batcher_and_leases_meet_the_first() {
        let lanes: Vec<usize> = (0..64)
            .map(|i| lane_of(&job(Operation::Consume, Some(&format!("k{i}"))), 5))
            .collect();
        assert!(lanes.iter().all(|&l| l < 4));
        assert!(
            lanes.iter().any(|&l| l != lanes[0]),
            "keys spread over the lanes"
        );
        for (i, lane) in lanes.iter().enumerate() {
            let key = format!("k{i}");
            assert_eq!(lane_of(&job(Operation::Report, Some(&key)), 5), *lane);
        }
        let release = Operation::Release {
            lease_id: Uuid::new_v4(),
        };
        assert_eq!(lane_of(&job(release, Some("k1")), 5), 0);
        assert_eq!(lane_of(&job(Operation::Consume, Some("k1")), 1), 0);
    }

    #[test]
    fn a_big_job_meets_the_big_jobs_own_batcher_and_small_ones_never_do() {
        use crate::domain::usage::decide::tests::job as touching;
        let ids: Vec<String> = (0..=BIG_JOB).map(|i| format!("l{i:04}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let big = touching(Operation::Consume, 1, &ids, None);
        assert_eq!(lane_of(&big, 5), 4, "past the shared lanes");
        assert_eq!(lane_of(&big, 2), 1, "beside one shared lane");
        assert_eq!(lane_of(&big, 1), 0, "one batcher takes everything");
        let keyed = touching(Operation::Consume, 1, &ids, Some(("k1", "h")));
        assert!(
            lane_of(&keyed, 5) < 4,
            "an idempotency key keeps its own lane"
        );
        for small in ids.chunks(BIG_JOB) {
            assert!(lane_of(&touching(Operation::Consume, 1, small, None), 5) < 4);
            assert_eq!(lane_of(&touching(Operation::Consume, 1, small, None), 2), 0);
        }
    }

    #[test]
    fn a_job_answered_at_once_has_no_limit_no_idempotency_key_and_no_lease() {
        assert!(answers_at_once(&job(Operation::Consume, None)));
        assert!(answers_at_once(&job(Operation::Check, None)));
        assert!(!answers_at_once(&job(Operation::Consume, Some("k"))));
        let acquire = Operation::Acquire {
            lease_id: Uuid::new_v4(),
            expires_at: Utc::now(),
        };
        assert!(!answers_at_once(&job(acquire, None)));
    }
}
