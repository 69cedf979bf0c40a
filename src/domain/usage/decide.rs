//! The decisions of one batch, in memory: each operation in arrival order against the counters
//! as locked at the start of the batch, so one write per counter serves the whole batch.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::batch::{
    BatchState, BatchWrites, CounterKey, CounterRow, IdempotencyKey, IdempotencyRecord, LeaseRow,
};
use super::{Decision, Job, LeaseGrant, LimitStatus, Operation, replay};
use crate::domain::limit::Amount;
use crate::domain::notification::{DueNotification, Target, due};
use crate::domain::{Error, Result};

/// How long an idempotency key remembers its first decision.
pub const IDEMPOTENCY_TTL: TimeDelta = TimeDelta::hours(24);

/// Decides every job of a batch; returns what to write and each job's answer, in order.
pub(crate) fn decide(
    jobs: &[Job],
    state: &BatchState,
    now: DateTime<Utc>,
) -> (BatchWrites, Vec<Result<Decision>>) {
    let mut counters: HashMap<&CounterKey, CounterRow> = HashMap::new();
    let mut period_ends: HashMap<&CounterKey, i64> = HashMap::new();
    let mut changed: HashSet<&CounterKey> = HashSet::new();
    // First decisions taken in this batch under an idempotency key.
    let mut first: HashMap<&IdempotencyKey, IdempotencyRecord> = HashMap::new();
    let mut writes = BatchWrites::default();
    let mut answers = Vec::with_capacity(jobs.len());
    // The highest threshold each rule fired at in its counter's period, as the batch goes.
    let mut fired = state.fired.clone();

    for job in jobs {
        for m in &job.matched {
            if let Some(row) = state.counters.get(&m.key) {
                counters.entry(&m.key).or_insert(*row);
                period_ends.insert(&m.key, m.period_end);
            }
        }
        if let Some((key, hash)) = &job.idempotency {
            if let Some(record) = state.idempotency.get(key).or_else(|| first.get(key)) {
                answers.push(replay::replay(record, hash, job, &counters));
                continue;
            }
        }
        let answer = match &job.operation {
            Operation::Release { lease_id } => {
                if state.released.contains(&(job.tenant_id, *lease_id)) {
                    Ok(Decision::admitted(Vec::new()))
                } else {
                    Err(Error::NotFound("lease"))
                }
            }
            Operation::Check => Ok(evaluate(job, &counters, now, false)),
            Operation::Report => {
                for m in &job.matched {
                    if let Some(row) = counters.get_mut(&m.key) {
                        row.used = job.amount;
                        changed.insert(&m.key);
                    }
                }
                notify(job, &counters, state, &mut fired, &mut writes.outbox, now);
                Ok(Decision::admitted(statuses(job, &counters, |_| true)))
            }
            Operation::Refund => {
                for m in &job.matched {
                    if let Some(row) = counters.get_mut(&m.key) {
                        row.used = (row.used - job.amount).max(0);
                        changed.insert(&m.key);
                    }
                }
                Ok(Decision::admitted(statuses(job, &counters, |_| true)))
            }
            Operation::Consume | Operation::Acquire { .. } => {
                let decision = evaluate(job, &counters, now, true);
                if decision.allowed {
                    for m in &job.matched {
                        if let Some(row) = counters.get_mut(&m.key) {
                            row.used = row.used.saturating_add(job.amount);
                            changed.insert(&m.key);
                        }
                    }
                    notify(job, &counters, state, &mut fired, &mut writes.outbox, now);
                }
                Ok(grant_lease(job, decision, &counters, &mut writes))
            }
        };
        if let (Some((key, hash)), Ok(decision)) = (&job.idempotency, &answer) {
            first.insert(key, replay::record(hash, decision));
        }
        answers.push(answer);
    }

    let expires = (now + IDEMPOTENCY_TTL).timestamp_millis();
    writes.idempotency = first
        .into_iter()
        .map(|(key, record)| (key.clone(), record, expires))
        .collect();
    writes.counters = changed
        .into_iter()
        .filter_map(|key| Some((key.clone(), *period_ends.get(key)?, counters.get(key)?.used)))
        .collect();
    writes.counters.sort_by(|a, b| a.0.cmp(&b.0));
    (writes, answers)
}

/// Adds to `outbox` every notification rule of the job's limits that the counters' new usage
/// made due (ZITADEL's rule: see [`crate::domain::notification`]), at most once per rule,
/// period and threshold; and, for a limit with alert rules whose previous period had usage, one
/// reset event per alert target, once per period (see [`super::alerts`]).
fn notify(
    job: &Job,
    counters: &HashMap<&CounterKey, CounterRow>,
    state: &BatchState,
    fired: &mut HashMap<(CounterKey, String), i64>,
    outbox: &mut Vec<DueNotification>,
    now: DateTime<Utc>,
) {
    for m in job.matched.iter().filter(|m| !m.rules.is_empty()) {
        let Some(row) = counters.get(&m.key) else {
            continue;
        };
        let amount = match row.amount {
            Amount::Limited(n) => Some(n),
            Amount::Unlimited => None,
        };
        for rule in m.rules.iter() {
            let state_key = (m.key.clone(), rule.id.clone());
            let last = fired.get(&state_key).copied();
            let Some(threshold) = due(rule, row.used, amount, last) else {
                continue;
            };
            fired.insert(state_key, threshold);
            let mut event = super::alerts::event(m, rule, threshold, row.used);
            if let Target::Webhook(target) = rule.target {
                event.payload = Some(super::alerts::threshold_payload(
                    m, rule, threshold, row.used, amount, now,
                ));
                event.target_id = Some(target);
            }
            outbox.push(event);
        }
        super::alerts::resets(m, state, fired, outbox, now);
    }
}

/// The statuses of a job's limits as they stand, and whether `amount` more fits in all of the
/// blocking ones. When it does not, only the refusing limits are reported.
fn evaluate(
    job: &Job,
    counters: &HashMap<&CounterKey, CounterRow>,
    now: DateTime<Utc>,
    consuming: bool,
) -> Decision {
    let refuses = |row: &CounterRow| row.blocking && !row.amount.admits(row.used, job.amount);
    let refusing = statuses(job, counters, |row| refuses(row));
    if refusing.is_empty() {
        let mut decision = Decision::admitted(statuses(job, counters, |_| true));
        if consuming {
            for status in &mut decision.limits {
                status.used = status.used.saturating_add(job.amount);
                status.remaining = status.remaining.map(|r| (r - job.amount).max(0));
            }
        }
        return decision;
    }
    let retry_after = refusing
        .iter()
        .map(|s| s.reset_at.map(|at| seconds_until(now, at)))
        .collect::<Option<Vec<u64>>>()
        .and_then(|waits| waits.into_iter().max());
    Decision {
        allowed: false,
        limits: refusing,
        retry_after,
        lease: None,
        replayed: false,
    }
}

/// Where each limit `job` matched stands in `counters`, for those `keep` selects.
pub(super) fn statuses(
    job: &Job,
    counters: &HashMap<&CounterKey, CounterRow>,
    keep: impl Fn(&CounterRow) -> bool,
) -> Vec<LimitStatus> {
    job.matched
        .iter()
        .filter_map(|m| {
            let row = counters.get(&m.key)?;
            keep(row).then(|| LimitStatus {
                quota_id: m.limit.id.clone(),
                metric: m.limit.metric.clone(),
                limit: match row.amount {
                    Amount::Limited(n) => Some(n),
                    Amount::Unlimited => None,
                },
                used: row.used,
                remaining: match row.amount {
                    Amount::Limited(n) => Some((n - row.used).max(0)),
                    Amount::Unlimited => None,
                },
                reset_at: m.reset_at,
                window: m.limit.window,
            })
        })
        .collect()
}

fn grant_lease(
    job: &Job,
    mut decision: Decision,
    counters: &HashMap<&CounterKey, CounterRow>,
    writes: &mut BatchWrites,
) -> Decision {
    let Operation::Acquire {
        lease_id,
        expires_at,
    } = job.operation
    else {
        return decision;
    };
    if !decision.allowed {
        return decision;
    }
    for m in job.matched.iter().filter(|m| counters.contains_key(&m.key)) {
        writes.leases.push(LeaseRow {
            tenant_id: job.tenant_id,
            lease_id,
            counter: m.key.clone(),
            amount: job.amount,
            expires_at_ms: expires_at.timestamp_millis(),
        });
    }
    decision.lease = Some(LeaseGrant {
        id: lease_id,
        expires_at,
    });
    decision
}

/// Whole seconds from `now` until `at`, rounded up, at least 1.
pub fn seconds_until(now: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    let millis = (at - now).num_milliseconds().max(0);
    u64::try_from((millis + 999) / 1000).unwrap_or(0).max(1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::domain::limit::{Limit, Subject};
    use crate::domain::notification::Notification;
    use crate::domain::usage::Matched;
    use crate::domain::usage::batch::{IdempotencyKey, NEVER};
    use crate::domain::window::Window;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("instant")
    }

    fn limit(id: &str, blocking: bool) -> Arc<Limit> {
        Arc::new(Limit {
            id: id.into(),
            tenant_id: Uuid::nil(),
            selector: Subject::default(),
            metric: "m".into(),
            amount: Amount::Limited(5),
            window: Window::None,
            blocking,
            owner: None,
            per: Vec::new(),
            created_at: now(),
            updated_at: now(),
        })
    }

    fn key(id: &str) -> CounterKey {
        CounterKey {
            tenant_id: Uuid::nil(),
            limit_id: id.into(),
            per_value: String::new(),
            period_start: 0,
        }
    }

    fn job(operation: Operation, amount: i64, ids: &[&str], idem: Option<(&str, &str)>) -> Job {
        Job {
            tenant_id: Uuid::nil(),
            operation,
            amount,
            matched: ids
                .iter()
                .map(|id| Matched {
                    limit: limit(id, *id != "soft"),
                    key: key(id),
                    period_end: NEVER,
                    reset_at: None,
                    rules: Arc::from(Vec::new()),
                })
                .collect(),
            idempotency: idem.map(|(k, h)| {
                let key = IdempotencyKey {
                    tenant_id: Uuid::nil(),
                    key: k.into(),
                };
                (key, h.to_owned())
            }),
            reply: None,
        }
    }

    fn state(used: &[(&str, i64)]) -> BatchState {
        let mut state = BatchState::default();
        for (id, used) in used {
            let row = CounterRow {
                used: *used,
                amount: Amount::Limited(5),
                blocking: *id != "soft",
            };
            state.counters.insert(key(id), row);
        }
        state
    }

    #[test]
    fn operations_of_one_batch_are_decided_in_order_and_written_once() {
        let jobs: Vec<Job> = (0..4)
            .map(|_| job(Operation::Consume, 2, &["a"], None))
            .collect();
        let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now());
        let allowed: Vec<bool> = answers
            .iter()
            .map(|a| a.as_ref().is_ok_and(|d| d.allowed))
            .collect();
        assert_eq!(allowed, vec![true, true, false, false]);
        assert_eq!(writes.counters, vec![(key("a"), NEVER, 4)]);
    }

    #[test]
    fn a_refusal_by_one_limit_counts_against_none() {
        let jobs = [job(Operation::Consume, 3, &["a", "b", "soft"], None)];
        let (writes, answers) = decide(&jobs, &state(&[("a", 0), ("b", 4), ("soft", 0)]), now());
        let decision = answers[0].as_ref().expect("decided");
        assert!(!decision.allowed);
        assert_eq!(decision.limits.len(), 1);
        assert_eq!(decision.limits[0].quota_id, "b");
        assert!(writes.counters.is_empty());
    }

    #[test]
    fn a_limit_deleted_meanwhile_is_ignored() {
        let jobs = [job(Operation::Consume, 1, &["gone", "a"], None)];
        let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now());
        assert!(
            answers[0]
                .as_ref()
                .is_ok_and(|d| d.allowed && d.limits.len() == 1)
        );
        assert_eq!(writes.counters.len(), 1);
    }

    #[test]
    fn the_same_idempotency_key_twice_in_one_batch_consumes_once() {
        let jobs = [
            job(Operation::Consume, 2, &["a"], Some(("k", "h1"))),
            job(Operation::Consume, 2, &["a"], Some(("k", "h1"))),
            job(Operation::Consume, 2, &["a"], Some(("k", "other"))),
        ];
        let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now());
        assert!(answers[1].as_ref().is_ok_and(|d| d.replayed && d.allowed));
        assert!(matches!(answers[2], Err(Error::IdempotencyKeyReused)));
        assert_eq!(writes.counters, vec![(key("a"), NEVER, 2)]);
        assert_eq!(writes.idempotency.len(), 1);
    }

    #[test]
    fn a_refused_windowless_limit_gives_no_retry_time() {
        let jobs = [job(Operation::Consume, 9, &["a"], None)];
        let (_, answers) = decide(&jobs, &state(&[("a", 0)]), now());
        assert!(
            answers[0]
                .as_ref()
                .is_ok_and(|d| !d.allowed && d.retry_after.is_none())
        );
    }

    fn rule(percent: u32, repeat: bool) -> Notification {
        Notification::zitadel(
            format!("n{percent}{repeat}"),
            percent,
            repeat,
            "http://hooks.example/q".into(),
        )
    }

    /// Consumes `amount` per job against the non-blocking limit "soft" (amount 10) carrying `rules`, one batch per
    /// job, carrying the fired state from batch to batch as the outbox would; the thresholds
    /// written, in order.
    fn thresholds_fired(rules: Vec<Notification>, amounts: &[i64]) -> Vec<(String, i64, i64)> {
        let rules: crate::domain::usage::cache::Rules = Arc::from(rules);
        let mut used = 0;
        let mut fired_so_far: HashMap<(CounterKey, String), i64> = HashMap::new();
        let mut written = Vec::new();
        for amount in amounts {
            let mut j = job(Operation::Consume, *amount, &["soft"], None);
            j.matched[0].rules = rules.clone();
            let mut state = state(&[("soft", used)]);
            if let Some(row) = state.counters.get_mut(&key("soft")) {
                row.amount = Amount::Limited(10);
            }
            state.fired = fired_so_far.clone();
            let (writes, _) = decide(&[j], &state, now());
            used = writes.counters.first().map_or(used, |c| c.2);
            for due in writes.outbox {
                fired_so_far.insert((key("soft"), due.notification_id.clone()), due.threshold);
                written.push((due.notification_id, due.threshold, due.usage));
            }
        }
        written
    }

    #[test]
    fn zitadels_threshold_formula_decides_what_becomes_due() {
        // p=80: used 90% -> 80, 120% -> 80, 190% -> 180 (a jump reports the nearest threshold).
        for (usage, expected) in [(9, 80), (12, 80), (19, 180)] {
            let fired = thresholds_fired(vec![rule(80, true)], &[usage]);
            assert_eq!(
                fired,
                vec![("n80true".into(), expected, usage)],
                "usage {usage}"
            );
        }
        // p=100: 120% -> 100, 210% -> 200.
        for (usage, expected) in [(12, 100), (21, 200)] {
            let fired = thresholds_fired(vec![rule(100, true)], &[usage]);
            assert_eq!(
                fired,
                vec![("n100true".into(), expected, usage)],
                "usage {usage}"
            );
        }
    }

    #[test]
    fn a_repeating_50_percent_rule_fires_at_50_and_150_but_not_100() {
        let fired = thresholds_fired(vec![rule(50, true)], &[1; 16]);
        assert_eq!(
            fired,
            vec![("n50true".into(), 50, 5), ("n50true".into(), 150, 15)]
        );
    }

    #[test]
    fn a_rule_without_repeat_fires_once_and_several_due_in_one_batch_are_each_written() {
        let fired = thresholds_fired(vec![rule(50, false), rule(100, false)], &[1; 25]);
        assert_eq!(
            fired,
            vec![("n50false".into(), 50, 5), ("n100false".into(), 100, 10)]
        );
        let jobs: Vec<Job> = (0..6)
            .map(|_| {
                let mut j = job(Operation::Consume, 1, &["soft"], None);
                j.matched[0].rules = Arc::from(vec![rule(50, true)]);
                j
            })
            .collect();
        let mut state = state(&[("soft", 0)]);
        if let Some(row) = state.counters.get_mut(&key("soft")) {
            row.amount = Amount::Limited(4);
        }
        let (writes, _) = decide(&jobs, &state, now());
        let thresholds: Vec<i64> = writes.outbox.iter().map(|d| d.threshold).collect();
        assert_eq!(thresholds, vec![50, 150]);
    }

    #[test]
    fn a_refund_gives_units_back_but_never_below_zero() {
        let jobs = [job(Operation::Refund, 3, &["a"], None)];
        let (writes, _) = decide(&jobs, &state(&[("a", 2)]), now());
        assert_eq!(writes.counters, vec![(key("a"), NEVER, 0)]);
    }
}
