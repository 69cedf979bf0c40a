//! How a quota becomes engine limits, and the subject a consumer's call is counted under.
//!
//! The subject of a call names the deployment and the consumer, and two keys this surface adds:
//! `policy` (`own` when the quota has a policy for the consumer, else `default`) and `phase`
//! (`shared`, or `reserved` when a saturated deployment falls back on a reservation).
//!
//! - A default rule is one limit selecting `{deployment, policy: default}`, split `per`
//!   consumer: every consumer without a policy gets the whole amount for itself, and consumers
//!   with a policy never match it.
//! - A policy's rule is one limit selecting `{deployment, consumer_type, consumer_id, policy: own}`.
//! - With capacity and a saturation threshold: one limit of `threshold * capacity` units a minute
//!   on the whole deployment in the `shared` phase, and for each reserved policy one limit of
//!   `reserved * capacity` a minute selecting that consumer in the `reserved` phase.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{CapacityUnits, ConsumerType, Quota, Rule, RuleKind, RuleWindow};
use crate::domain::limit::{Amount, Limit, Subject};
use crate::domain::window::Window;

/// The engine metric of each rule kind.
pub fn metric(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::ConcurrentRequests => "datarobot.concurrentRequests",
        RuleKind::InputSequenceLength => "datarobot.inputSequenceLength",
        RuleKind::Requests => "datarobot.requests",
        RuleKind::Token => "datarobot.token",
    }
}

/// The engine metric a capacity is counted in.
pub fn capacity_metric(units: CapacityUnits) -> &'static str {
    match units {
        CapacityUnits::Requests => metric(RuleKind::Requests),
        CapacityUnits::Token => metric(RuleKind::Token),
    }
}

/// The owner of a quota's limits.
pub fn owner(quota_id: &str) -> String {
    format!("datarobot:{quota_id}")
}

/// The id of the limit that counts a saturated deployment's shared use.
pub fn saturation_limit_id(quota_id: &str) -> String {
    format!("datarobot:{quota_id}:saturation")
}

/// Whether a consumer's call is counted under its own policy or the default rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Own,
    Default,
}

impl Applies {
    /// The value of the subject's `policy` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Own => "own",
            Applies::Default => "default",
        }
    }
}

/// The subject of a consumer's call to a deployment.
pub fn call_subject(
    deployment: &str,
    consumer_type: ConsumerType,
    consumer_id: &str,
    applies: Applies,
    reserved_phase: bool,
) -> Subject {
    Subject::of([
        ("deployment", deployment),
        ("consumer_type", consumer_type.as_str()),
        ("consumer_id", consumer_id),
        ("policy", applies.as_str()),
        ("phase", if reserved_phase { "reserved" } else { "shared" }),
    ])
}

/// The engine window of a rule: counting rules reset on theirs; concurrency and input length
/// have no period.
fn window_of(rule: &Rule) -> Window {
    match (rule.rule, rule.window) {
        (RuleKind::ConcurrentRequests | RuleKind::InputSequenceLength, _) => Window::None,
        (_, RuleWindow::Min) => Window::Minute,
        (_, RuleWindow::Hour) => Window::Hour,
        (_, RuleWindow::Day) => Window::Day,
    }
}

/// A short stable tag of a consumer for limit ids (ids stay short whatever the consumer id).
fn consumer_tag(consumer_type: ConsumerType, consumer_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(consumer_type.as_str())
        .chain_update([0])
        .chain_update(consumer_id)
        .finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", consumer_type.as_str())
}

/// Every limit `quota` needs, ids stable across updates (so usage survives a PATCH that keeps
/// a rule), in a deterministic order.
pub fn limits_of(quota: &Quota, now: DateTime<Utc>) -> Vec<Limit> {
    let d = quota.resource_id.as_str();
    let limit = |id: String, selector: Subject, metric: &str, amount: i64, window, per| Limit {
        id,
        tenant_id: quota.tenant_id,
        selector,
        metric: metric.to_owned(),
        amount: Amount::Limited(amount),
        window,
        blocking: true,
        owner: Some(owner(&quota.id)),
        per,
        family: None,
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        created_at: now,
        updated_at: now,
    };
    let rule_limits = |who: &str, rules: &[Rule], selector: &Subject, per: &[&str]| {
        let mut seen = std::collections::HashMap::new();
        rules
            .iter()
            .map(|rule| {
                let n = seen
                    .entry((rule.rule, rule.window))
                    .and_modify(|n| *n += 1)
                    .or_insert(0);
                let suffix = if *n == 0 {
                    String::new()
                } else {
                    format!(":{n}")
                };
                let id = format!(
                    "datarobot:{}:{who}:{}:{}{suffix}",
                    quota.id,
                    rule.rule.as_str(),
                    rule.window.as_str()
                );
                let per = per.iter().map(|k| (*k).to_owned()).collect();
                limit(
                    id,
                    selector.clone(),
                    metric(rule.rule),
                    rule.limit,
                    window_of(rule),
                    per,
                )
            })
            .collect::<Vec<_>>()
    };
    let default_selector = Subject::of([("deployment", d), ("policy", "default")]);
    let mut limits = rule_limits(
        "default",
        &quota.default_rules,
        &default_selector,
        &["consumer_type", "consumer_id"],
    );
    for policy in &quota.policies {
        let (t, c) = (policy.consumer_type.as_str(), policy.consumer_id.as_str());
        let selector = Subject::of([
            ("deployment", d),
            ("consumer_type", t),
            ("consumer_id", c),
            ("policy", "own"),
        ]);
        let tag = consumer_tag(policy.consumer_type, &policy.consumer_id);
        limits.extend(rule_limits(&tag, &policy.rules, &selector, &[]));
    }
    if let Some((capacity, threshold)) = quota.saturation() {
        let units = capacity_metric(capacity.units);
        let shared = Subject::of([("deployment", d), ("phase", "shared")]);
        let amount = share_of(capacity.capacity, threshold);
        let id = saturation_limit_id(&quota.id);
        limits.push(limit(id, shared, units, amount, Window::Minute, Vec::new()));
        for policy in &quota.policies {
            let Some(reserved) = policy.reserved else {
                continue;
            };
            let (t, c) = (policy.consumer_type.as_str(), policy.consumer_id.as_str());
            let selector = Subject::of([
                ("deployment", d),
                ("consumer_type", t),
                ("consumer_id", c),
                ("policy", "own"),
                ("phase", "reserved"),
            ]);
            let tag = consumer_tag(policy.consumer_type, &policy.consumer_id);
            let id = format!("datarobot:{}:{tag}:reserved", quota.id);
            let amount = share_of(capacity.capacity, reserved);
            limits.push(limit(
                id,
                selector,
                units,
                amount,
                Window::Minute,
                Vec::new(),
            ));
        }
    }
    limits
}

/// `share` of `capacity`, rounded down (a guarantee never promises more than there is).
fn share_of(capacity: i64, share: f64) -> i64 {
    // Both are validated: capacity <= 10^15 and share in 0..=1, so the product fits.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let units = (capacity as f64 * share).floor() as i64;
    units.clamp(0, capacity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::datarobot::{Capacity, Policy};
    use uuid::Uuid;

    fn rule(kind: RuleKind, limit: i64) -> Rule {
        Rule {
            rule: kind,
            limit,
            window: RuleWindow::Min,
        }
    }

    fn quota() -> Quota {
        Quota {
            id: "q".into(),
            tenant_id: Uuid::nil(),
            resource_type: "deployment".into(),
            resource_id: "d1".into(),
            user_id: "u".into(),
            default_rules: vec![rule(RuleKind::Requests, 10), rule(RuleKind::Requests, 20)],
            policies: vec![Policy {
                consumer_id: "alice".into(),
                consumer_type: ConsumerType::User,
                consumer_name: None,
                reserved: Some(0.25),
                rules: vec![rule(RuleKind::ConcurrentRequests, 2)],
            }],
            capacity: Some(Capacity {
                capacity: 100,
                units: CapacityUnits::Requests,
            }),
            saturation_threshold: Some(0.8),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn default_rules_apply_per_consumer_and_never_to_a_consumer_with_a_policy() {
        let limits = limits_of(&quota(), DateTime::UNIX_EPOCH);
        let alice = call_subject("d1", ConsumerType::User, "alice", Applies::Own, false);
        let bob = call_subject("d1", ConsumerType::User, "bob", Applies::Default, false);
        let carol = call_subject("d1", ConsumerType::User, "carol", Applies::Default, false);
        let requests = metric(RuleKind::Requests);
        let defaults: Vec<&Limit> = limits
            .iter()
            .filter(|l| l.id.contains(":default:"))
            .collect();
        assert_eq!(defaults.len(), 2, "a repeated rule gets its own id");
        assert_ne!(defaults[0].id, defaults[1].id);
        assert!(defaults.iter().all(|l| !l.applies_to(&alice, requests)));
        assert!(defaults.iter().all(|l| l.applies_to(&bob, requests)));
        assert_ne!(defaults[0].partition(&bob), defaults[0].partition(&carol));
        let concurrency = metric(RuleKind::ConcurrentRequests);
        assert!(limits.iter().any(|l| l.applies_to(&alice, concurrency)));
        assert!(!limits.iter().any(|l| l.applies_to(&bob, concurrency)));
    }

    #[test]
    fn saturation_shares_the_threshold_and_reserves_each_share() {
        let limits = limits_of(&quota(), DateTime::UNIX_EPOCH);
        let shared = limits
            .iter()
            .find(|l| l.id == saturation_limit_id("q"))
            .expect("saturation limit");
        assert_eq!(shared.amount, Amount::Limited(80));
        let reserved_alice = call_subject("d1", ConsumerType::User, "alice", Applies::Own, true);
        let reserved: Vec<&Limit> = limits
            .iter()
            .filter(|l| l.applies_to(&reserved_alice, metric(RuleKind::Requests)))
            .collect();
        assert_eq!(reserved.len(), 1);
        assert_eq!(reserved[0].amount, Amount::Limited(25));
        let shared_alice = call_subject("d1", ConsumerType::User, "alice", Applies::Own, false);
        assert!(shared.applies_to(&shared_alice, metric(RuleKind::Requests)));
        assert!(!shared.applies_to(&reserved_alice, metric(RuleKind::Requests)));
    }
}
