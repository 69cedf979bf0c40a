//! Notifications: rules on a limit that call a URL when its usage in a period reaches a
//! percentage of its amount, and the due events the usage engine writes to a durable outbox.
//!
//! The arithmetic is ZITADEL's (`internal/query/quota_notifications.go`), quirks included: a
//! rule is due when the period's relative usage reaches its percent (first time in the period) or
//! the next threshold (`last threshold + 100`); the threshold reported is
//! [`reached_threshold`]; a rule without `repeat` only ever fires at its own percent.

use uuid::Uuid;

/// A rule on a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Stable while the rule is unchanged; a new id means a new rule with fresh state.
    pub id: String,
    /// Percent of the amount, 1 or more (may exceed 100).
    pub percent: u32,
    /// Whether it fires again at `percent + 100`, `percent + 200`, ... in the same period.
    pub repeat: bool,
    /// Where the due event is POSTed.
    pub call_url: String,
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
    let percent = u64::from(rule.percent);
    let due = match fired {
        Some(last) => used_rel >= last.saturating_add(100),
        None => used_rel >= percent,
    };
    if !due {
        return None;
    }
    let threshold = reached_threshold(used_rel, rule.percent);
    if threshold == 0 || (!rule.repeat && percent < threshold) {
        return None;
    }
    // A threshold already fired is never written twice (the outbox's unique key says the same).
    if fired.is_some_and(|last| threshold <= last) {
        return None;
    }
    Some(threshold)
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
        Notification {
            id: "n".into(),
            percent,
            repeat,
            call_url: "http://example.com".into(),
        }
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
}
