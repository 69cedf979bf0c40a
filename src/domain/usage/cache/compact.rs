//! The compact form in which the limit cache holds a limit: only what matching and deciding read
//! (no tenant, no timestamps). What many limits of a metric have in common (metric, selector
//! keys, window, `per`, family, owner, mode, blocking) is one [`Shape`] shared by all of them;
//! each limit keeps its id, selector values, amount, expiry and rules. About 230-280 bytes a
//! limit with its share of the index, where a [`Limit`] takes 1-3 KB.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Rules;
use crate::domain::limit::{Amount, Limit, Mode, Subject, partition_by};
use crate::domain::notification::Notification;
use crate::domain::precedence::Ranked;
use crate::domain::window::Window;

/// A limit as the cache holds it.
#[derive(Debug)]
pub struct CachedLimit {
    pub id: Box<str>,
    /// The selector's values, in the order of [`Shape::keys`].
    values: Box<[Box<str>]>,
    pub amount: Amount,
    pub expires_at: Option<DateTime<Utc>>,
    /// What it shares with the other limits of its metric that look like it.
    pub shape: Arc<Shape>,
    /// Its notification rules (often none: then one empty slice shared by all).
    pub rules: Rules,
}

/// What limits of one metric often have in common, held once per cache entry.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub metric: Arc<str>,
    /// The selector's keys, sorted.
    pub keys: Arc<[Arc<str>]>,
    pub window: Window,
    pub blocking: bool,
    pub mode: Mode,
    /// The keys that split the limit's counter (see [`Limit::per`]).
    pub per: Arc<[Arc<str>]>,
    pub family: Option<Arc<str>>,
    /// The surface resource the limit belongs to (`None` for native limits).
    pub owner: Option<Arc<str>>,
}

/// A cached limit's selector: its pairs, sorted by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector<'a> {
    keys: &'a [Arc<str>],
    values: &'a [Box<str>],
}

impl<'a> Selector<'a> {
    /// The pairs, sorted by key.
    pub fn pairs(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.keys.iter().zip(self.values).map(|(k, v)| (&**k, &**v))
    }

    /// The value of `key`, if any.
    pub fn get(self, key: &str) -> Option<&'a str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The pair with the smallest key (the one the cache indexes by).
    pub fn first(self) -> Option<(&'a str, &'a str)> {
        self.pairs().next()
    }

    /// Whether every pair is in `subject`.
    pub fn selects(self, subject: &Subject) -> bool {
        self.pairs().all(|(k, v)| subject.get(k) == Some(v))
    }

    /// How many pairs.
    pub fn len(self) -> usize {
        self.values.len()
    }

    /// Whether it has no pair (the limit applies to every subject).
    pub fn is_empty(self) -> bool {
        self.values.is_empty()
    }
}

impl CachedLimit {
    /// The pairs a subject must have for the limit to apply.
    pub fn selector(&self) -> Selector<'_> {
        Selector {
            keys: &self.shape.keys,
            values: &self.values,
        }
    }

    /// Which of the limit's counters `subject` counts against (as [`Limit::partition`]).
    pub fn partition(&self, subject: &Subject) -> String {
        partition_by(self.shape.per.iter().map(|k| &**k), subject)
    }

    /// Whether the limit has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

impl From<Limit> for CachedLimit {
    /// One limit on its own, sharing nothing (a cache load shares through [`Interner`]).
    fn from(limit: Limit) -> Self {
        Interner::default().compact(limit, None)
    }
}

impl Ranked for CachedLimit {
    fn id(&self) -> &str {
        &self.id
    }
    fn family(&self) -> Option<&str> {
        self.shape.family.as_deref()
    }
    fn specificity(&self) -> usize {
        self.values.len()
    }
    fn same_selector(&self, other: &Self) -> bool {
        self.selector() == other.selector()
    }
    fn expired(&self, now: DateTime<Utc>) -> bool {
        CachedLimit::expired(self, now)
    }
}

/// Shares what one load repeats: each distinct string, key list and shape is held once.
pub(super) struct Interner {
    strings: HashSet<Arc<str>>,
    lists: HashMap<Vec<Arc<str>>, Arc<[Arc<str>]>>,
    shapes: HashSet<Arc<Shape>>,
    no_rules: Rules,
}

impl Default for Interner {
    fn default() -> Self {
        Self {
            strings: HashSet::new(),
            lists: HashMap::new(),
            shapes: HashSet::new(),
            no_rules: Rules::from(Vec::new()),
        }
    }
}

impl Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(shared.clone());
        shared
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a str>) -> Arc<[Arc<str>]> {
        let items: Vec<Arc<str>> = items.map(|s| self.string(s)).collect();
        if let Some(shared) = self.lists.get(&items) {
            return shared.clone();
        }
        let shared: Arc<[Arc<str>]> = Arc::from(items.as_slice());
        self.lists.insert(items, shared.clone());
        shared
    }

    fn shape(&mut self, shape: Shape) -> Arc<Shape> {
        if let Some(shared) = self.shapes.get(&shape) {
            return shared.clone();
        }
        let shared = Arc::new(shape);
        self.shapes.insert(shared.clone());
        shared
    }

    /// `limit` in its compact form, with `rules` (none: the shared empty slice).
    pub(super) fn compact(
        &mut self,
        limit: Limit,
        rules: Option<Vec<Notification>>,
    ) -> CachedLimit {
        let shape = Shape {
            metric: self.string(&limit.metric),
            keys: self.list(limit.selector.pairs().map(|(k, _)| k)),
            window: limit.window,
            blocking: limit.blocking,
            mode: limit.mode,
            per: self.list(limit.per.iter().map(String::as_str)),
            family: limit.family.as_deref().map(|f| self.string(f)),
            owner: limit.owner.as_deref().map(|o| self.string(o)),
        };
        CachedLimit {
            values: limit.selector.pairs().map(|(_, v)| Box::from(v)).collect(),
            id: limit.id.into_boxed_str(),
            amount: limit.amount,
            expires_at: limit.expires_at,
            shape: self.shape(shape),
            rules: rules.map_or_else(|| self.no_rules.clone(), Rules::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What glibc's malloc takes for a block of `n` bytes (16-byte steps, 32 at least).
    fn block(n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (n + 8).div_ceil(16).max(2) * 16
        }
    }

    /// The bytes one cached limit holds that no other limit shares: its `Arc` block, id,
    /// selector slice and values, and its slot in the index.
    fn bytes_of(limit: &CachedLimit) -> usize {
        let arc = block(std::mem::size_of::<CachedLimit>() + 16);
        let slice = block(limit.values.len() * std::mem::size_of::<Box<str>>());
        let values: usize = limit.values.iter().map(|v| block(v.len())).sum();
        arc + block(limit.id.len()) + slice + values + std::mem::size_of::<Arc<CachedLimit>>()
    }

    fn surface_limit(i: usize) -> Limit {
        let now = Utc::now();
        Limit {
            id: format!("datarobot:policy-{i:06}:requests-minute"),
            tenant_id: uuid::Uuid::nil(),
            selector: Subject::of([("user", &format!("user-{i:06}")), ("org", "org-1")]),
            metric: "requests".into(),
            amount: Amount::Limited(100),
            window: Window::Minute,
            blocking: true,
            owner: Some("datarobot:policies".into()),
            per: vec!["user".into()],
            family: Some("datarobot".into()),
            expires_at: None,
            mode: Mode::Enforce,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_cached_limit_with_two_pairs_and_a_long_id_holds_at_most_300_bytes() {
        let mut interner = Interner::default();
        let limits: Vec<CachedLimit> = (0..1000)
            .map(|i| interner.compact(surface_limit(i), None))
            .collect();
        let most = limits.iter().map(bytes_of).max().unwrap_or(0);
        println!(
            "size_of CachedLimit {} bytes, {most} bytes a limit with its own heap",
            std::mem::size_of::<CachedLimit>()
        );
        assert!(std::mem::size_of::<CachedLimit>() <= 96);
        assert!(most <= 300, "{most} bytes a cached limit");
    }

    #[test]
    fn a_compact_limit_selects_and_partitions_as_the_limit_it_was_made_of() {
        let limit = surface_limit(7);
        let cached = CachedLimit::from(limit.clone());
        let subject = Subject::of([("user", "user-000007"), ("org", "org-1"), ("x", "y")]);
        let selector = cached.selector();
        assert!(selector.pairs().eq(limit.selector.pairs()));
        assert!(selector.selects(&subject));
        assert!(!selector.selects(&Subject::of([("user", "user-000007")])));
        assert_eq!(cached.partition(&subject), limit.partition(&subject));
        assert_eq!(selector.get("org"), Some("org-1"));
        assert_eq!(selector.first(), Some(("org", "org-1")));
        assert_eq!(cached.shape.owner.as_deref(), limit.owner.as_deref());
    }

    #[test]
    fn one_load_shares_the_strings_its_limits_repeat() {
        let mut interner = Interner::default();
        let a = interner.compact(surface_limit(1), None);
        let b = interner.compact(surface_limit(2), None);
        assert!(Arc::ptr_eq(&a.shape, &b.shape));
        assert!(Arc::ptr_eq(&a.rules, &b.rules));
        let mut other = surface_limit(3);
        other.window = Window::Hour;
        let c = interner.compact(other, None);
        assert!(!Arc::ptr_eq(&a.shape, &c.shape));
        assert!(Arc::ptr_eq(&a.shape.keys, &c.shape.keys));
        assert!(Arc::ptr_eq(&a.shape.metric, &c.shape.metric));
    }
}
