//! The decisions of one batch, in memory: each operation in arrival order against the counters
//! as locked at the start of the batch, so one write per counter serves the whole batch.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::batch::{
    BatchState, BatchWrites, CounterKey, CounterRow, FastHash, IdempotencyKey, IdempotencyRecord,
    LeaseRow,
};
use super::{Decision, Job, LeaseGrant, LimitStatus, Matched, Operation, Take, replay};
use crate::domain::limit::Amount;
use crate::domain::notification::{DueNotification, Target, due};
use crate::domain::{Error, Result};

/// How long an idempotency key remembers its first decision.
pub const IDEMPOTENCY_TTL: TimeDelta = TimeDelta::hours(24);

/// The batch's counters as its decisions go, by key.
pub(super) type Counters<'k> = HashMap<&'k CounterKey, CounterRow, FastHash>;

/// Decides every job of a batch; returns what to write and each job's answer, in order.
/// `partitions_per_limit` is the bound that made [`BatchState::full_partitions`] full.
pub(crate) fn decide(
    jobs: &[Job],
    state: &BatchState,
    now: DateTime<Utc>,
    partitions_per_limit: Option<i64>,
) -> (BatchWrites, Vec<Result<Decision>>) {
    let mut counters = Counters::default();
    let mut period_ends: HashMap<&CounterKey, i64, FastHash> = HashMap::default();
    let mut changed: HashSet<&CounterKey, FastHash> = HashSet::default();
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
        if let Some(refused) = past_partition_bound(job, state, partitions_per_limit) {
            answers.push(Err(refused));
            continue;
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
                        row.used = m.amount;
                        changed.insert(&m.key);
                    }
                }
                notify(job, &counters, state, &mut fired, &mut writes.outbox, now);
                Ok(Decision::admitted(statuses(job, &counters, |_, _| true)))
            }
            Operation::Refund => {
                for m in &job.matched {
                    if let Some(row) = counters.get_mut(&m.key) {
                        row.used = (row.used - m.amount).max(0);
                        changed.insert(&m.key);
                    }
                }
                Ok(Decision::admitted(statuses(job, &counters, |_, _| true)))
            }
            Operation::Consume | Operation::Acquire { .. } => {
                let decision = evaluate(job, &counters, now, true);
                if decision.allowed {
                    for m in job.matched.iter().filter(|m| m.take != Take::Check) {
                        if let Some(row) = counters.get_mut(&m.key) {
                            row.used = row.used.saturating_add(m.amount);
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
        .filter(|key| !state.full_partitions.contains(*key))
        .filter_map(|key| Some((key.clone(), *period_ends.get(key)?, counters.get(key)?.used)))
        .collect();
    writes.counters.sort_by(|a, b| a.0.cmp(&b.0));
    (writes, answers)
}

/// The refusal of a job that would count, hold or set on a new `per` partition its limit has
/// no room for (a refund there has nothing to give back, and a check makes nothing).
fn past_partition_bound(job: &Job, state: &BatchState, bound: Option<i64>) -> Option<Error> {
    if state.full_partitions.is_empty()
        || matches!(job.operation, Operation::Check | Operation::Refund)
    {
        return None;
    }
    let m = job
        .matched
        .iter()
        .find(|m| state.full_partitions.contains(&m.key))?;
    Some(crate::domain::bounds::partitions_reached(
        &m.limit.id,
        bound.unwrap_or_default(),
    ))
}

/// Adds to `outbox` every notification rule of the job's limits that the counters' new usage
/// made due (ZITADEL's rule: see [`crate::domain::notification`]), at most once per rule,
/// period and threshold; and, for a limit with alert rules whose previous period had usage, one
/// reset event per alert target, once per period (see [`super::alerts`]).
fn notify(
    job: &Job,
    counters: &Counters<'_>,
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

/// The statuses of a job's limits as they stand, and whether each part's amount more fits in
/// all of the blocking ones. When it does not, only the refusing limits are reported.
fn evaluate(job: &Job, counters: &Counters<'_>, now: DateTime<Utc>, consuming: bool) -> Decision {
    let passes =
        |m: &Matched, row: &CounterRow| row.blocking && !row.amount.admits(row.used, m.amount);
    let refusing = statuses(job, counters, |m, row| !m.shadow && passes(m, row));
    // Shadow limits never refuse: they report that they would have.
    let would_refuse: Vec<String> = statuses(job, counters, |m, row| m.shadow && passes(m, row))
        .into_iter()
        .map(|s| s.quota_id)
        .collect();
    if refusing.is_empty() {
        let mut decision = Decision::admitted(statuses(job, counters, |_, _| true));
        decision.would_refuse = would_refuse;
        if consuming {
            // `statuses` keeps the order of `matched` and skips limits gone meanwhile.
            let counted = job
                .matched
                .iter()
                .filter(|m| counters.contains_key(&m.key))
                .map(|m| if m.take == Take::Check { 0 } else { m.amount });
            for (status, amount) in decision.limits.iter_mut().zip(counted) {
                status.used = status.used.saturating_add(amount);
                status.remaining = status.remaining.map(|r| (r - amount).max(0));
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
        would_refuse,
        explain: None,
        replayed: false,
    }
}

/// Where each limit `job` matched stands in `counters`, for those `keep` selects.
pub(super) fn statuses(
    job: &Job,
    counters: &Counters<'_>,
    keep: impl Fn(&Matched, &CounterRow) -> bool,
) -> Vec<LimitStatus> {
    job.matched
        .iter()
        .filter_map(|m| {
            let row = counters.get(&m.key)?;
            keep(m, row).then(|| LimitStatus {
                quota_id: m.limit.id.to_string(),
                metric: m.limit.shape.metric.to_string(),
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
                window: m.limit.shape.window,
            })
        })
        .collect()
}

fn grant_lease(
    job: &Job,
    mut decision: Decision,
    counters: &Counters<'_>,
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
    let held = job.matched.iter().filter(|m| m.take == Take::Hold);
    for m in held.filter(|m| counters.contains_key(&m.key)) {
        writes.leases.push(LeaseRow {
            tenant_id: job.tenant_id,
            lease_id,
            counter: m.key.clone(),
            amount: m.amount,
            expires_at_ms: expires_at.timestamp_millis(),
        });
    }
    writes
        .granted
        .push((job.tenant_id, lease_id, expires_at.timestamp_millis()));
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
#[path = "decide_tests.rs"]
pub(super) mod tests;
