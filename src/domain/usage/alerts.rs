//! The batch's alert steps: the outbox rows of alert rules (signed Standard Webhooks events, their
//! body fixed when they become due) and the reset event of a period that rolled over with usage.
//!
//! A reset event is written by the first batch that writes (consumes, acquires or reports) to a
//! counter of a limit with alert rules in a new period, when the counter of the period just
//! before had usage: one event per distinct target of the limit's alert rules, once per period
//! and partition (the outbox's unique key says the same). A period with no operation at all
//! writes nothing, and after a gap of more than one period the previous period is empty, so
//! nothing is written either.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Matched;
use super::batch::{BatchState, CounterKey, NEVER};
use crate::domain::notification::{DueNotification, EventKind, Notification, Threshold};

/// The rule id under which a limit's reset event for `target` is remembered in its period.
pub fn reset_rule_id(target: Uuid) -> String {
    format!("reset:{target}")
}

/// The start of the period before the one `m` counts in, for a limit with alert rules and a
/// window that resets (`None` otherwise).
pub(crate) fn previous_period(m: &Matched) -> Option<i64> {
    if m.period_end == NEVER || !m.rules.iter().any(|r| r.webhook().is_some()) {
        return None;
    }
    let start = DateTime::from_timestamp_millis(m.key.period_start)?;
    let before = start.checked_sub_signed(TimeDelta::milliseconds(1))?;
    Some(m.limit.shape.window.period_start(before).timestamp_millis())
}

/// The outbox row of `rule` due at `threshold` (the caller adds an alert's target and body).
pub(crate) fn event(
    m: &Matched,
    rule: &Notification,
    threshold: i64,
    used: i64,
) -> DueNotification {
    let (kind, call_url) = match rule.zitadel_parts() {
        Some((_, url)) => (EventKind::Zitadel, url.to_owned()),
        None => (EventKind::Alert, String::new()),
    };
    DueNotification {
        id: Uuid::new_v4(),
        tenant_id: m.key.tenant_id,
        limit_id: m.key.limit_id.clone(),
        notification_id: rule.id.clone(),
        call_url,
        metric: m.limit.shape.metric.to_string(),
        period_start: m.key.period_start,
        period_end: m.period_end,
        threshold,
        usage: used,
        attempts: 0,
        kind,
        per_value: m.key.per_value.clone(),
        target_id: None,
        payload: None,
    }
}

fn instant(ms: i64) -> Value {
    if ms == NEVER {
        return Value::Null;
    }
    DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

fn partition(m: &Matched) -> Value {
    if m.key.per_value.is_empty() {
        Value::Null
    } else {
        Value::String(m.key.per_value.clone())
    }
}

/// The body of a threshold event: `{"type": "limit.threshold_reached", "timestamp", "data"}`.
pub(crate) fn threshold_payload(
    m: &Matched,
    rule: &Notification,
    threshold: i64,
    used: i64,
    amount: Option<i64>,
    now: DateTime<Utc>,
) -> String {
    let threshold = match rule.threshold {
        Threshold::Percent(_) => json!({ "percent": threshold }),
        Threshold::Units(_) => json!({ "units": threshold }),
    };
    json!({
        "type": "limit.threshold_reached",
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "tenant_id": m.key.tenant_id,
            "limit_id": m.key.limit_id,
            "rule_id": rule.id,
            "metric": &*m.limit.shape.metric,
            "partition": partition(m),
            "period_start": instant(m.key.period_start),
            "period_end": instant(m.period_end),
            "threshold": threshold,
            "used": used,
            "limit": amount,
        }
    })
    .to_string()
}

/// Adds the reset events `m`'s counter owes in its period (see the module's doc).
pub(crate) fn resets(
    m: &Matched,
    state: &BatchState,
    fired: &mut HashMap<(CounterKey, String), i64>,
    outbox: &mut Vec<DueNotification>,
    now: DateTime<Utc>,
) {
    let Some(&(previous_start, previous_used)) = state.previous.get(&m.key) else {
        return;
    };
    if previous_used <= 0 {
        return;
    }
    let targets: BTreeSet<Uuid> = m.rules.iter().filter_map(Notification::webhook).collect();
    for target in targets {
        let rule_id = reset_rule_id(target);
        let state_key = (m.key.clone(), rule_id.clone());
        if fired.contains_key(&state_key) {
            continue;
        }
        fired.insert(state_key, 0);
        let payload = json!({
            "type": "limit.period_reset",
            "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": {
                "tenant_id": m.key.tenant_id,
                "limit_id": m.key.limit_id,
                "metric": &*m.limit.shape.metric,
                "partition": partition(m),
                "period_start": instant(m.key.period_start),
                "period_end": instant(m.period_end),
                "previous_period_start": instant(previous_start),
                "previous_used": previous_used,
            }
        });
        outbox.push(DueNotification {
            id: Uuid::new_v4(),
            tenant_id: m.key.tenant_id,
            limit_id: m.key.limit_id.clone(),
            notification_id: rule_id,
            call_url: String::new(),
            metric: m.limit.shape.metric.to_string(),
            period_start: m.key.period_start,
            period_end: m.period_end,
            threshold: 0,
            usage: previous_used,
            attempts: 0,
            kind: EventKind::Reset,
            per_value: m.key.per_value.clone(),
            target_id: Some(target),
            payload: Some(payload.to_string()),
        });
    }
}
