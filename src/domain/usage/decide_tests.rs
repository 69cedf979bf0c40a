//! The decisions of one batch, case by case: order, all or nothing, idempotency, thresholds.
use std::sync::Arc;

use uuid::Uuid;

use super::*;
use crate::domain::limit::{Limit, Subject};
use crate::domain::notification::Notification;
use crate::domain::usage::CachedLimit;
use crate::domain::usage::batch::{IdempotencyKey, NEVER};
use crate::domain::window::Window;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("instant")
}

fn limit(id: &str, blocking: bool) -> Arc<CachedLimit> {
    Arc::new(CachedLimit::from(Limit {
        id: id.into(),
        tenant_id: Uuid::nil(),
        selector: Subject::default(),
        metric: "m".into(),
        amount: Amount::Limited(5),
        window: Window::None,
        blocking,
        owner: None,
        per: Vec::new(),
        family: None,
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        created_at: now(),
        updated_at: now(),
    }))
}

fn key(id: &str) -> CounterKey {
    CounterKey {
        tenant_id: Uuid::nil(),
        limit_id: id.into(),
        per_value: String::new(),
        period_start: 0,
    }
}

pub(in crate::domain::usage) fn job(
    operation: Operation,
    amount: i64,
    ids: &[&str],
    idem: Option<(&str, &str)>,
) -> Job {
    let take = Take::of(&operation);
    Job {
        tenant_id: Uuid::nil(),
        operation,
        matched: ids
            .iter()
            .map(|id| Matched {
                limit: limit(id, *id != "soft"),
                key: key(id),
                period_end: NEVER,
                reset_at: None,
                rules: Arc::from(Vec::new()),
                shadow: false,
                amount,
                take,
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
    let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now(), None);
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
    let (writes, answers) = decide(
        &jobs,
        &state(&[("a", 0), ("b", 4), ("soft", 0)]),
        now(),
        None,
    );
    let decision = answers[0].as_ref().expect("decided");
    assert!(!decision.allowed);
    assert_eq!(decision.limits.len(), 1);
    assert_eq!(decision.limits[0].quota_id, "b");
    assert!(writes.counters.is_empty());
}

#[test]
fn a_limit_deleted_meanwhile_is_ignored() {
    let jobs = [job(Operation::Consume, 1, &["gone", "a"], None)];
    let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now(), None);
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
    let (writes, answers) = decide(&jobs, &state(&[("a", 0)]), now(), None);
    assert!(answers[1].as_ref().is_ok_and(|d| d.replayed && d.allowed));
    assert!(matches!(answers[2], Err(Error::IdempotencyKeyReused)));
    assert_eq!(writes.counters, vec![(key("a"), NEVER, 2)]);
    assert_eq!(writes.idempotency.len(), 1);
}

#[test]
fn a_refused_windowless_limit_gives_no_retry_time() {
    let jobs = [job(Operation::Consume, 9, &["a"], None)];
    let (_, answers) = decide(&jobs, &state(&[("a", 0)]), now(), None);
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
        let (writes, _) = decide(&[j], &state, now(), None);
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
    let (writes, _) = decide(&jobs, &state, now(), None);
    let thresholds: Vec<i64> = writes.outbox.iter().map(|d| d.threshold).collect();
    assert_eq!(thresholds, vec![50, 150]);
}

#[test]
fn a_refund_gives_units_back_but_never_below_zero() {
    let jobs = [job(Operation::Refund, 3, &["a"], None)];
    let (writes, _) = decide(&jobs, &state(&[("a", 2)]), now(), None);
    assert_eq!(writes.counters, vec![(key("a"), NEVER, 0)]);
}

#[test]
fn a_job_on_a_partition_past_the_bound_is_refused_by_name_and_the_rest_of_the_batch_proceeds() {
    let mut state = state(&[("a", 0), ("full", 0)]);
    state.full_partitions.insert(key("full"));
    let jobs = [
        job(Operation::Consume, 1, &["a", "full"], None),
        job(Operation::Consume, 1, &["a"], None),
        job(Operation::Refund, 1, &["full"], None),
        job(Operation::Check, 1, &["full"], None),
    ];
    let (writes, answers) = decide(&jobs, &state, now(), Some(3));
    let refused = answers[0].as_ref().expect_err("refused");
    assert!(
        refused.to_string().contains("partitions_per_limit = 3"),
        "{refused}"
    );
    assert!(answers[1].as_ref().is_ok_and(|d| d.allowed));
    assert!(answers[2].is_ok() && answers[3].as_ref().is_ok_and(|d| d.allowed));
    assert_eq!(
        writes.counters,
        vec![(key("a"), NEVER, 1)],
        "the refused job counted nothing, and the full partition is never written"
    );
}
