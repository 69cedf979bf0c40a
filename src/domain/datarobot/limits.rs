//! How a quota becomes engine limits, with precedence, so that `POST /v1/usage/consume` with
//! the subject `{deployment, consumer_type, consumer_id}` enforces exactly what the call endpoint
//! does.
//!
//! Each rule kind of a quota is one family (see [`crate::domain::precedence`]):
//! - A default rule is one limit selecting `{deployment}`, split `per` consumer: every consumer
//!   gets the whole amount for itself.
//! - A policy's rule is one limit selecting `{deployment, consumer_type, consumer_id}`: more
//!   specific, so it replaces the default rules of its kind for that consumer. A policy replaces
//!   the default rules as a whole: a kind the defaults limit and the policy does not is an
//!   unlimited limit of the consumer's (it counts, and replaces the default).
//! - Guaranteed quotas (capacity and saturation threshold), as reserved concurrency works in
//!   AWS Lambda: one limit of `threshold * capacity` units a minute on the whole deployment,
//!   shared by every consumer without a reservation; a policy with `reserved = r` is one limit of
//!   `r * capacity` a minute of that consumer's own, which replaces the shared one for it. So a
//!   reserved consumer always has its share, whatever the others use, and the others never use
//!   it. See docs/datarobot.md.

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

/// The family of a quota's limits of one rule kind.
fn family(quota_id: &str, kind: RuleKind) -> String {
    format!("datarobot:{quota_id}:{}", kind.as_str())
}

/// The family of a quota's guaranteed-quota limits.
fn saturation_family(quota_id: &str) -> String {
    format!("datarobot:{quota_id}:saturation")
}

/// Whether a consumer's call is counted under its own policy or the default rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Own,
    Default,
}

impl Applies {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Own => "own",
            Applies::Default => "default",
        }
    }
}

/// The subject of a consumer's call to a deployment.
pub fn call_subject(deployment: &str, consumer_type: ConsumerType, consumer_id: &str) -> Subject {
    Subject::of([
        ("deployment", deployment),
        ("consumer_type", consumer_type.as_str()),
        ("consumer_id", consumer_id),
    ])
}

/// Whether `limit` is one of a quota's guaranteed-quota limits.
pub fn is_saturation_limit(quota_id: &str, limit_id: &str) -> bool {
    limit_id == saturation_limit_id(quota_id)
        || (limit_id.starts_with(&format!("datarobot:{quota_id}:"))
            && limit_id.ends_with(":reserved"))
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
    let limit =
        |id: String, selector: Subject, metric: &str, amount: i64, window, per, family| Limit {
            id,
            tenant_id: quota.tenant_id,
            selector,
            metric: metric.to_owned(),
            amount: Amount::Limited(amount),
            window,
            blocking: true,
            owner: Some(owner(&quota.id)),
            per,
            family: Some(family),
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
                let family = family(&quota.id, rule.rule);
                limit(
                    id,
                    selector.clone(),
                    metric(rule.rule),
                    rule.limit,
                    window_of(rule),
                    per,
                    family,
                )
            })
            .collect::<Vec<_>>()
    };
    let deployment = Subject::of([("deployment", d)]);
    let mut limits = rule_limits(
        "default",
        &quota.default_rules,
        &deployment,
        &["consumer_type", "consumer_id"],
    );
    let mut default_kinds: Vec<RuleKind> = Vec::new();
    for rule in &quota.default_rules {
        if !default_kinds.contains(&rule.rule) {
            default_kinds.push(rule.rule);
        }
    }
    for policy in &quota.policies {
        let selector = call_subject(d, policy.consumer_type, &policy.consumer_id);
        let tag = consumer_tag(policy.consumer_type, &policy.consumer_id);
        limits.extend(rule_limits(&tag, &policy.rules, &selector, &[]));
        // A kind only the defaults limit: the policy's consumer has no ceiling on it.
        for &kind in default_kinds
            .iter()
            .filter(|k| !policy.rules.iter().any(|r| r.rule == **k))
        {
            let id = format!("datarobot:{}:{tag}:{}:none", quota.id, kind.as_str());
            let mut none = limit(
                id,
                selector.clone(),
                metric(kind),
                0,
                Window::None,
                Vec::new(),
                family(&quota.id, kind),
            );
            none.amount = Amount::Unlimited;
            limits.push(none);
        }
    }
    if let Some((capacity, threshold)) = quota.saturation() {
        let units = capacity_metric(capacity.units);
        let amount = share_of(capacity.capacity, threshold);
        let id = saturation_limit_id(&quota.id);
        let family = saturation_family(&quota.id);
        limits.push(limit(
            id,
            deployment.clone(),
            units,
            amount,
            Window::Minute,
            Vec::new(),
            family.clone(),
        ));
        for policy in &quota.policies {
            let Some(reserved) = policy.reserved else {
                continue;
            };
            let selector = call_subject(d, policy.consumer_type, &policy.consumer_id);
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
                family.clone(),
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

    fn applying<'a>(limits: &'a [Limit], subject: &Subject, metric: &str) -> Vec<&'a Limit> {
        let matching: Vec<&Limit> = limits
            .iter()
            .filter(|l| l.applies_to(subject, metric))
            .collect();
        crate::domain::precedence::resolve(matching, DateTime::UNIX_EPOCH, |l| *l).0
    }

    #[test]
    fn default_rules_apply_per_consumer_and_a_policy_replaces_them() {
        let limits = limits_of(&quota(), DateTime::UNIX_EPOCH);
        let alice = call_subject("d1", ConsumerType::User, "alice");
        let bob = call_subject("d1", ConsumerType::User, "bob");
        let carol = call_subject("d1", ConsumerType::User, "carol");
        let requests = metric(RuleKind::Requests);
        let defaults: Vec<&Limit> = limits
            .iter()
            .filter(|l| l.id.contains(":default:"))
            .collect();
        assert_eq!(defaults.len(), 2, "a repeated rule gets its own id");
        assert_ne!(defaults[0].id, defaults[1].id);
        let rules = |subject: &Subject| -> Vec<&Limit> {
            applying(&limits, subject, requests)
                .into_iter()
                .filter(|l| !is_saturation_limit("q", &l.id))
                .collect()
        };
        assert_eq!(rules(&bob).len(), 2);
        let for_alice = rules(&alice);
        assert_eq!(
            for_alice.len(),
            1,
            "alice's policy has no requests rule: {for_alice:?}"
        );
        assert_eq!(for_alice[0].amount, Amount::Unlimited);
        assert_ne!(defaults[0].partition(&bob), defaults[0].partition(&carol));
        let concurrency = metric(RuleKind::ConcurrentRequests);
        assert_eq!(applying(&limits, &alice, concurrency).len(), 1);
        assert!(applying(&limits, &bob, concurrency).is_empty());
    }

    #[test]
    fn a_reservation_replaces_the_shared_saturation_limit_for_its_consumer() {
        let limits = limits_of(&quota(), DateTime::UNIX_EPOCH);
        let requests = metric(RuleKind::Requests);
        let bob = call_subject("d1", ConsumerType::User, "bob");
        let shared: Vec<&Limit> = applying(&limits, &bob, requests)
            .into_iter()
            .filter(|l| l.id == saturation_limit_id("q"))
            .collect();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].amount, Amount::Limited(80));
        let alice = call_subject("d1", ConsumerType::User, "alice");
        let for_alice = applying(&limits, &alice, requests);
        assert!(for_alice.iter().all(|l| l.id != saturation_limit_id("q")));
        let reserved: Vec<&&Limit> = for_alice
            .iter()
            .filter(|l| l.id.ends_with(":reserved"))
            .collect();
        assert_eq!(reserved.len(), 1);
        assert_eq!(reserved[0].amount, Amount::Limited(25));
        assert!(is_saturation_limit("q", &reserved[0].id));
    }
}
