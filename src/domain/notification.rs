//! Notifications: rules on a limit that call a URL when its usage in a period reaches a
//! percentage of its amount, and the due events the usage engine writes to a durable outbox.
//!
//! The arithmetic is ZITADEL's (`internal/query/quota_notifications.go`), quirks included: a
//! rule is due when the period's relative usage reaches its percent (first time in the period) or
//! the next threshold (`last threshold + 100`); the threshold reported is
//! [`reached_threshold`]; a rule without `repeat` only ever fires at its own percent.
//!
//! Alert rules (`crate::domain::alert`) are notifications too: their threshold may be a number
//! of units instead of a percent (see [`due`]), and their events go to a webhook target, signed,
//! instead of to a ZITADEL call URL.

use uuid::Uuid;

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Percent of the limit's amount, 1 or more (may exceed 100); repeats every further 100.
    Percent(u32),
    /// Units used in the period, 1 or more; repeats at every further multiple.
    Units(i64),
}

/// Where a rule's due events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A ZITADEL call URL: POSTed ZITADEL's payload, unsigned.
    CallUrl(String),
    /// An alert target of the tenant, by id: POSTed a signed Standard Webhooks event.
    Webhook(Uuid),
}

/// A rule on a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Stable while the rule is unchanged; a new id means a new rule with fresh state.
    pub id: String,
    pub threshold: Threshold,
    /// Whether it fires again at each further threshold in the same period.
    pub repeat: bool,
    pub target: Target,
}

impl Notification {
    /// A ZITADEL notification: percent, repeat, call URL.
    pub fn zitadel(id: String, percent: u32, repeat: bool, call_url: String) -> Self {
        Self {
            id,
            threshold: Threshold::Percent(percent),
            repeat,
            target: Target::CallUrl(call_url),
        }
    }

    /// The percent and call URL of a ZITADEL notification (`None` for an alert rule).
    pub fn zitadel_parts(&self) -> Option<(u32, &str)> {
        match (&self.threshold, &self.target) {
            (Threshold::Percent(p), Target::CallUrl(url)) => Some((*p, url)),
            _ => None,
        }
    }

    /// The alert target, for an alert rule.
    pub fn webhook(&self) -> Option<Uuid> {
        match self.target {
            Target::Webhook(id) => Some(id),
            Target::CallUrl(_) => None,
        }
    }
}

/// Most events one repeating alert rule writes in one period (its first threshold and 99 more):
/// a rule of `{"units": 1}` on a busy limit must not write a row per unit consumed.
pub const MAX_ALERT_REPEATS: i64 = 100;

/// The threshold at which `rule` is due with `used` units against `amount` (`None`:
/// unlimited), given the highest threshold it already fired at in this period. A percent is
/// ZITADEL's arithmetic ([`due_threshold`]); units fire once `used` reaches them and, with
/// `repeat`, again at each further multiple (reporting the highest multiple reached). An alert
/// rule (a [`Target::Webhook`]) stops repeating after [`MAX_ALERT_REPEATS`] thresholds in a period.
pub fn due(rule: &Notification, used: i64, amount: Option<i64>, fired: Option<i64>) -> Option<i64> {
    let alert = matches!(rule.target, Target::Webhook(_));
    match rule.threshold {
        Threshold::Percent(percent) => {
            let used_rel = relative_usage(used, amount?)?;
            let last = fired.map(|t| u64::try_from(t).unwrap_or(0));
            let threshold = due_percent(percent, rule.repeat, used_rel, last)?;
            let threshold = i64::try_from(threshold).unwrap_or(i64::MAX);
            let nth = (threshold - i64::from(percent)) / 100 + 1;
            (!alert || nth <= MAX_ALERT_REPEATS).then_some(threshold)
        }
        Threshold::Units(units) => {
            if units < 1 || used < units {
                return None;
            }
            let threshold = if rule.repeat {
                (used / units).min(MAX_ALERT_REPEATS).saturating_mul(units)
            } else {
                units
            };
            (fired.is_none_or(|last| threshold > last)).then_some(threshold)
        }
    }
}

/// Usage relative to `amount`, in whole percent, rounded down (`None` when `amount` is 0 or
/// less: ZITADEL divides by zero there, so quotaplane never fires).
pub fn relative_usage(used: i64, amount: i64) -> Option<u64> {
    if amount <= 0 {
        return None;
    }
    let rel = i128::from(used.max(0)) * 100 / i128::from(amount);
    Some(u64::try_from(rel).unwrap_or(u64::MAX))
}

/// ZITADEL's "nearest reached threshold" for a relative usage and a rule's percent:
/// `(floor(used/100) + floor((used mod 100)/percent) - 1) * 100 + percent`, or 0 when both terms
/// are 0. For percent 80: 90 -> 80, 120 -> 80, 190 -> 180.
pub fn reached_threshold(used_rel: u64, percent: u32) -> u64 {
    let percent = u64::from(percent.max(1));
    let times = used_rel / 100;
    let within = (used_rel % 100) / percent;
    if times == 0 && within == 0 {
        return 0;
    }
    (times + within - 1)
        .saturating_mul(100)
        .saturating_add(percent)
}

/// The threshold at which `rule` is due after usage became `used_rel`, given the highest
/// threshold it already fired at in this period (`None`: not yet in this period).
pub fn due_threshold(rule: &Notification, used_rel: u64, fired: Option<u64>) -> Option<u64> {
    match rule.threshold {
        Threshold::Percent(percent) => due_percent(percent, rule.repeat, used_rel, fired),
        Threshold::Units(_) => None,
    }
}

fn due_percent(percent: u32, repeat: bool, used_rel: u64, fired: Option<u64>) -> Option<u64> {
    let rule_percent = percent;
    let percent = u64::from(percent);
    let due = match fired {
        Some(last) => used_rel >= last.saturating_add(100),
        None => used_rel >= percent,
    };
    if !due {
        return None;
    }
    let threshold = reached_threshold(used_rel, rule_percent);
    if threshold == 0 || (!repeat && percent < threshold) {
        return None;
    }
    // A threshold already fired is never written twice (the outbox's unique key says the same).
    if fired.is_some_and(|last| threshold <= last) {
        return None;
    }
    Some(threshold)
}

/// What kind of event an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A ZITADEL notification: ZITADEL's payload to the call URL, unsigned.
    Zitadel,
    /// An alert rule reached its threshold: a signed event to the rule's target.
    Alert,
    /// A limit's period rolled over after a period with usage: a signed event to each target of
    /// the limit's alert rules.
    Reset,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Zitadel => "zitadel",
            EventKind::Alert => "alert",
            EventKind::Reset => "reset",
        }
    }

    /// The kind a stored name names (an unknown one reads as ZITADEL's, the column's default).
    pub fn parse(name: &str) -> Self {
        match name {
            "alert" => EventKind::Alert,
            "reset" => EventKind::Reset,
            _ => EventKind::Zitadel,
        }
    }
}

/// A due notification, as the engine writes it to the outbox and the worker delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotification {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub limit_id: String,
    pub notification_id: String,
    pub call_url: String,
    pub metric: String,
    /// Start and end of the period, epoch milliseconds.
    pub period_start: i64,
    pub period_end: i64,
    /// The threshold reached, in percent.
    pub threshold: i64,
    /// Absolute usage in the period when it became due.
    pub usage: i64,
    /// Delivery attempts made so far.
    pub attempts: i32,
    pub kind: EventKind,
    /// The counter's partition (empty for a limit without `per`).
    pub per_value: String,
    /// Alert and reset events: the target they go to.
    pub target_id: Option<Uuid>,
    /// Alert and reset events: the JSON body, fixed when the event became due (so every
    /// attempt sends the same bytes under the same `webhook-id`).
    pub payload: Option<String>,
}

impl DueNotification {
    /// What the outbox's unique key holds in `notification_id`: the rule id for ZITADEL rows;
    /// for alert and reset rows a digest of the kind, limit, partition and rule (or target), so
    /// rules of the same id on two limits, and the partitions of one limit, never collide.
    pub fn outbox_key(&self) -> String {
        use sha2::{Digest, Sha256};
        if self.kind == EventKind::Zitadel {
            return self.notification_id.clone();
        }
        let mut hash = Sha256::new();
        for part in [
            self.kind.as_str(),
            &self.limit_id,
            &self.per_value,
            &self.notification_id,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.kind.as_str())
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver answered 2xx: done.
    Delivered,
    /// Never to be tried again (a private address while those are refused, an unsupported
    /// scheme), with why.
    Refused(String),
    /// Failed; tried again at `next_attempt_at` (epoch milliseconds).
    Retry {
        attempts: i32,
        next_attempt_at: i64,
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(percent: u32, repeat: bool) -> Notification {
        Notification::zitadel("n".into(), percent, repeat, "http://example.com".into())
    }

    #[test]
    fn the_reached_threshold_is_zitadels() {
        assert_eq!(reached_threshold(90, 80), 80);
        assert_eq!(reached_threshold(120, 80), 80);
        assert_eq!(reached_threshold(190, 80), 180);
        assert_eq!(reached_threshold(120, 100), 100);
        assert_eq!(reached_threshold(210, 100), 200);
        assert_eq!(reached_threshold(40, 50), 0);
    }

    #[test]
    fn relative_usage_rounds_down_and_never_divides_by_zero() {
        assert_eq!(relative_usage(1, 3), Some(33));
        assert_eq!(relative_usage(3, 3), Some(100));
        assert_eq!(relative_usage(5, 0), None);
    }

    /// Walks usage up one unit at a time against `amount`, as metered requests do.
    fn fired_while_counting(rule: &Notification, amount: i64, up_to: i64) -> Vec<u64> {
        let mut fired = Vec::new();
        for used in 1..=up_to {
            let rel = relative_usage(used, amount).unwrap_or(0);
            if let Some(t) = due_threshold(rule, rel, fired.last().copied()) {
                fired.push(t);
            }
        }
        fired
    }

    #[test]
    fn a_repeating_rule_fires_at_percent_then_every_further_hundred() {
        assert_eq!(
            fired_while_counting(&rule(50, true), 10, 30),
            vec![50, 150, 250]
        );
        assert_eq!(
            fired_while_counting(&rule(100, true), 10, 25),
            vec![100, 200]
        );
    }

    #[test]
    fn a_rule_without_repeat_fires_once_per_period() {
        assert_eq!(fired_while_counting(&rule(50, false), 10, 30), vec![50]);
        assert_eq!(fired_while_counting(&rule(80, false), 10, 30), vec![80]);
    }

    #[test]
    fn a_jump_past_the_percent_reports_the_nearest_threshold() {
        assert_eq!(due_threshold(&rule(80, true), 190, None), Some(180));
        // ZITADEL's quirk, kept: without repeat, a jump past percent + 100 never fires.
        assert_eq!(due_threshold(&rule(80, false), 190, None), None);
        assert_eq!(due_threshold(&rule(80, false), 120, None), Some(80));
    }

    fn units(units: i64, repeat: bool) -> Notification {
        Notification {
            id: "u".into(),
            threshold: Threshold::Units(units),
            repeat,
            target: Target::Webhook(Uuid::nil()),
        }
    }

    /// Walks usage up by `step` against an unlimited limit; the thresholds fired.
    fn units_fired(rule: &Notification, step: i64, up_to: i64) -> Vec<i64> {
        let mut fired: Vec<i64> = Vec::new();
        let mut used = 0;
        while used < up_to {
            used += step;
            if let Some(t) = due(rule, used, None, fired.last().copied()) {
                fired.push(t);
            }
        }
        fired
    }

    #[test]
    fn a_units_threshold_fires_once_without_repeat_even_on_an_unlimited_limit() {
        assert_eq!(units_fired(&units(500, false), 100, 2000), vec![500]);
    }

    #[test]
    fn a_repeating_units_threshold_fires_at_each_multiple_reached() {
        assert_eq!(
            units_fired(&units(500, true), 200, 1600),
            vec![500, 1000, 1500]
        );
        assert_eq!(due(&units(500, true), 1499, None, Some(500)), Some(1000));
        assert_eq!(due(&units(500, true), 999, None, Some(500)), None);
    }

    #[test]
    fn a_repeating_alert_stops_after_its_most_thresholds_in_a_period() {
        let every_unit = units(1, true);
        assert_eq!(
            units_fired(&every_unit, 1, 500).len(),
            MAX_ALERT_REPEATS as usize
        );
        let every_percent = Notification {
            target: Target::Webhook(Uuid::nil()),
            ..rule(1, true)
        };
        // 1, 101, …, 9901: the 100th threshold, at 100 times the amount; not the 101st.
        assert_eq!(due(&every_percent, 100, Some(1), Some(9801)), Some(9901));
        assert_eq!(due(&every_percent, 101, Some(1), Some(9901)), None);
        // ZITADEL's own rules keep ZITADEL's arithmetic.
        assert_eq!(due(&rule(1, true), 101, Some(1), Some(9901)), Some(10001));
    }

    #[test]
    fn a_percent_alert_needs_a_limited_amount() {
        let rule = Notification {
            target: Target::Webhook(Uuid::nil()),
            ..rule(80, false)
        };
        assert_eq!(due(&rule, 8, Some(10), None), Some(80));
        assert_eq!(due(&rule, 8, None, None), None);
        assert_eq!(due(&rule, 8, Some(10), Some(80)), None);
    }
}
