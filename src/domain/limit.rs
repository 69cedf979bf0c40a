//! Limits: on a subject, a metric, an amount, over a window, blocking or not.
//!
//! A subject is a set of key/value pairs describing who or what uses something (a tenant, a user,
//! a deployment and consumer). A limit applies to a request when every pair of its selector is
//! among the request's subject, so one consume can count against an organization-wide, an
//! environment-wide and a cluster-wide limit at once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::window::Window;
use super::{Error, Result};

/// Most pairs a subject or selector may have.
pub const MAX_PAIRS: usize = 16;
/// Longest key of a pair, metric name or native limit id.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest value of a pair: the longest identifier any surface accepts (Confluent's ids allow
/// 255), so every id a surface takes in can be selected on and read back.
pub const MAX_VALUE_CHARS: usize = 255;

/// Key/value pairs naming what uses something, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Subject(BTreeMap<String, String>);

impl Subject {
    /// Checks pairs as given by a client; `pointer` names where they came from.
    pub fn parse(pairs: BTreeMap<String, String>, pointer: &str) -> Result<Self> {
        if pairs.len() > MAX_PAIRS {
            return Err(Error::invalid_body(
                pointer,
                format!("at most {MAX_PAIRS} pairs are allowed"),
            ));
        }
        for (k, v) in &pairs {
            check_name(k, &format!("{pointer}/{k}"))?;
            check_value(v, &format!("{pointer}/{k}"))?;
        }
        Ok(Subject(pairs))
    }

    /// Pairs read back from the store, or built by a surface from values it has checked: not
    /// checked again, so a bound tightened later never makes a stored row unreadable.
    pub fn trusted(pairs: BTreeMap<String, String>) -> Self {
        Subject(pairs)
    }

    /// Pairs built by a surface (trusted, already bounded).
    pub fn of<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Subject(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Whether every pair of `self` (a selector) is among `subject`'s.
    pub fn selects(&self, subject: &Subject) -> bool {
        self.0.iter().all(|(k, v)| subject.0.get(k) == Some(v))
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The pairs as a map (for JSON).
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// Checks a metric name, limit id or pair key: 1 to 200 printable characters.
pub fn check_name(name: &str, pointer: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid_body(
            pointer,
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid_body(
            pointer,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a pair's value: at most 255 characters, no control characters (empty is allowed).
pub fn check_value(value: &str, pointer: &str) -> Result<()> {
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(Error::invalid_body(
            pointer,
            format!("values must be at most {MAX_VALUE_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_body(
            pointer,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// How much a limit allows per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Amount {
    /// At most this many units.
    Limited(i64),
    /// No ceiling: usage is counted, nothing is refused.
    Unlimited,
}

impl Amount {
    /// The stored form: the number, or -1 for unlimited.
    pub fn to_stored(self) -> i64 {
        match self {
            Amount::Limited(n) => n,
            Amount::Unlimited => -1,
        }
    }

    /// Reads the stored form.
    pub fn from_stored(n: i64) -> Self {
        if n < 0 {
            Amount::Unlimited
        } else {
            Amount::Limited(n)
        }
    }

    /// Whether `used` units leave room for `more`.
    pub fn admits(self, used: i64, more: i64) -> bool {
        match self {
            Amount::Limited(n) => used.saturating_add(more) <= n,
            Amount::Unlimited => true,
        }
    }
}

/// How a blocking limit acts on what would pass it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// It refuses.
    #[default]
    Enforce,
    /// It counts and reports what it would refuse, but never refuses: a dry run.
    Shadow,
}

impl Mode {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }

    /// Reads a mode by name.
    pub fn parse(name: &str) -> Option<Self> {
        [Mode::Enforce, Mode::Shadow]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// A limit on what a subject may use of a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Unique within the tenant; chosen by the caller (native) or by the surface that owns it.
    pub id: String,
    pub tenant_id: Uuid,
    /// The pairs a subject must have for the limit to apply.
    pub selector: Subject,
    pub metric: String,
    pub amount: Amount,
    pub window: Window,
    /// A blocking limit refuses what would pass it; a non-blocking one only counts.
    pub blocking: bool,
    /// The surface resource this limit belongs to (`None` for native limits).
    pub owner: Option<String>,
    /// Subject keys that split the limit: one counter (and the whole amount) per distinct
    /// combination of their values, as in "each user 10 a minute". Empty: one shared counter.
    pub per: Vec<String>,
    /// Limits of one family replace each other: of those that match a subject, only the most
    /// specific apply (see [`crate::domain::precedence`]). `None`: the limit always applies.
    pub family: Option<String>,
    /// After this instant the limit no longer applies (and what it replaced applies again).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the limit refuses or only reports what it would refuse.
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Limit {
    /// Whether the limit applies to `subject` using `metric`.
    pub fn applies_to(&self, subject: &Subject, metric: &str) -> bool {
        self.metric == metric && self.selector.selects(subject)
    }

    /// Whether the limit has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether `other` says what this limit says: the same selector, metric, amount, window,
    /// blocking, split, family, expiry and mode (its id, tenant, owner and times aside).
    pub fn same_terms(&self, other: &Limit) -> bool {
        self.selector == other.selector
            && self.metric == other.metric
            && self.amount == other.amount
            && self.window == other.window
            && self.blocking == other.blocking
            && self.per == other.per
            && self.family == other.family
            && self.expires_at == other.expires_at
            && self.mode == other.mode
    }

    /// Which of the limit's counters `subject` counts against: empty for a limit without `per`,
    /// else the JSON array of the subject's values of the `per` keys (null where the subject
    /// lacks a key, so subjects without it share one counter rather than escape the limit).
    pub fn partition(&self, subject: &Subject) -> String {
        partition_by(self.per.iter().map(String::as_str), subject)
    }
}

/// The counter of a limit split by the keys `per` that `subject` counts against (see
/// [`Limit::partition`]).
pub fn partition_by<'a>(per: impl ExactSizeIterator<Item = &'a str>, subject: &Subject) -> String {
    if per.len() == 0 {
        return String::new();
    }
    let values: Vec<Option<&str>> = per.map(|k| subject.get(k)).collect();
    serde_json::to_string(&values).unwrap_or_default()
}

/// Checks the `per` keys of a limit as given by a client.
pub fn check_per(per: &[String], pointer: &str) -> Result<()> {
    if per.len() > MAX_PAIRS {
        return Err(Error::invalid_body(
            pointer,
            format!("at most {MAX_PAIRS} keys are allowed"),
        ));
    }
    for (i, key) in per.iter().enumerate() {
        check_name(key, &format!("{pointer}/{i}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_applies_when_all_its_pairs_are_in_the_subject() {
        let subject = Subject::of([("org", "o1"), ("env", "e1"), ("cluster", "c1")]);
        assert!(Subject::of([("org", "o1")]).selects(&subject));
        assert!(Subject::of([("org", "o1"), ("cluster", "c1")]).selects(&subject));
        assert!(Subject::default().selects(&subject));
        assert!(!Subject::of([("org", "o2")]).selects(&subject));
        assert!(!Subject::of([("org", "o1"), ("user", "u")]).selects(&subject));
    }

    #[test]
    fn amounts_admit_up_to_their_ceiling() {
        assert!(Amount::Limited(10).admits(9, 1));
        assert!(!Amount::Limited(10).admits(10, 1));
        assert!(Amount::Unlimited.admits(i64::MAX, 1));
        assert_eq!(
            Amount::from_stored(Amount::Unlimited.to_stored()),
            Amount::Unlimited
        );
    }

    #[test]
    fn a_per_limit_gives_each_value_its_own_counter() {
        let mut limit = Limit {
            id: "l".into(),
            tenant_id: Uuid::nil(),
            selector: Subject::of([("deployment", "d")]),
            metric: "m".into(),
            amount: Amount::Limited(1),
            window: Window::None,
            blocking: true,
            owner: None,
            per: Vec::new(),
            family: None,
            expires_at: None,
            mode: Mode::Enforce,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        };
        let alice = Subject::of([("deployment", "d"), ("user", "alice")]);
        let bob = Subject::of([("deployment", "d"), ("user", "bob")]);
        assert_eq!(limit.partition(&alice), "");
        assert_eq!(limit.partition(&alice), limit.partition(&bob));
        limit.per = vec!["user".into(), "team".into()];
        assert_eq!(limit.partition(&alice), r#"["alice",null]"#);
        assert_ne!(limit.partition(&alice), limit.partition(&bob));
        let nobody = Subject::of([("deployment", "d")]);
        assert_eq!(limit.partition(&nobody), limit.partition(&nobody.clone()));
        assert!(check_per(&["".into()], "/per").is_err());
        assert!(check_per(&vec!["k".to_owned(); 17], "/per").is_err());
    }

    #[test]
    fn subjects_are_bounded() {
        let many: BTreeMap<_, _> = (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(Subject::parse(many, "/subject").is_err());
        let longest = BTreeMap::from([("k".to_owned(), "v".repeat(MAX_VALUE_CHARS))]);
        assert!(Subject::parse(longest, "/subject").is_ok());
        let long = BTreeMap::from([("k".to_owned(), "v".repeat(MAX_VALUE_CHARS + 1))]);
        assert!(Subject::parse(long, "/subject").is_err());
        let nul = BTreeMap::from([("k".to_owned(), "a\0b".to_owned())]);
        assert!(Subject::parse(nul, "/subject").is_err());
    }
}
