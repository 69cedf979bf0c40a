//! Precedence: which of the limits that match a subject apply.
//!
//! A limit may belong to a *family* (a name, within its metric). Of the matching limits of one
//! family, only the most specific apply: those whose selector has the most pairs. The others are
//! *replaced* for that subject. So "every user 100 a minute" (selector `{}`, `per: [user]`,
//! family `users`) and "user u7 500 a minute" (selector `{user: u7}`, family `users`) give u7
//! 500 and everyone else 100 each. A limit without a family always applies.
//!
//! Limits with the same selector in one family apply together (a minute and a day rule of one
//! consumer, say). Two *different* selectors of one family with as many pairs, which one subject
//! could match at once, would leave the winner to chance: such a limit is refused when written
//! ([`tie`]). Should one exist anyway (two replicas writing at once), the selector of the
//! smallest limit id wins, the same on every replica.
//!
//! An expired limit (`expires_at` passed) neither applies nor replaces anything: an expiring
//! override lapses by itself, and what it replaced applies again, with no write.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::limit::{Limit, Subject};

/// How a matching limit stands for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It applies.
    Applies,
    /// A more specific limit of its family applies instead: the id of one that does.
    ReplacedBy(String),
}

/// Longest family name.
pub const MAX_FAMILY_CHARS: usize = 200;

/// How many pairs a selector has: the more, the more specific.
fn specificity(limit: &Limit) -> usize {
    limit.selector.pairs().count()
}

/// What precedence reads of a limit: implemented by the stored [`Limit`] and by the limit
/// cache's compact form, so both are resolved by the same rule.
pub trait Ranked {
    /// The limit's id.
    fn id(&self) -> &str;
    /// Its family, if any.
    fn family(&self) -> Option<&str>;
    /// How many pairs its selector has.
    fn specificity(&self) -> usize;
    /// Whether its selector is `other`'s.
    fn same_selector(&self, other: &Self) -> bool;
    /// Whether it has expired at `now`.
    fn expired(&self, now: DateTime<Utc>) -> bool;
}

impl Ranked for Limit {
    fn id(&self) -> &str {
        &self.id
    }
    fn family(&self) -> Option<&str> {
        self.family.as_deref()
    }
    fn specificity(&self) -> usize {
        specificity(self)
    }
    fn same_selector(&self, other: &Self) -> bool {
        self.selector == other.selector
    }
    fn expired(&self, now: DateTime<Utc>) -> bool {
        Limit::expired(self, now)
    }
}

/// Whether one subject could match both selectors: no key they share has two values.
fn compatible(a: &Subject, b: &Subject) -> bool {
    a.pairs().all(|(k, v)| b.get(k).is_none_or(|w| w == v))
}

/// Sorts the limits matching one subject (not expired) into those that apply and those that are
/// replaced; `limits` keeps its order. `get` reads a limit out of whatever the caller holds.
pub fn resolve<T, L: Ranked + ?Sized>(
    limits: Vec<T>,
    now: DateTime<Utc>,
    get: impl Fn(&T) -> &L,
) -> (Vec<T>, Vec<(T, String)>) {
    let live: Vec<T> = limits
        .into_iter()
        .filter(|t| !get(t).expired(now))
        .collect();
    // Per family: the winning selector and the smallest id that has it.
    let mut winners: HashMap<&str, (&L, usize)> = HashMap::new();
    for t in &live {
        let limit = get(t);
        let Some(family) = limit.family() else {
            continue;
        };
        let rank = limit.specificity();
        winners
            .entry(family)
            .and_modify(|(best, best_rank)| {
                if rank > *best_rank || (rank == *best_rank && limit.id() < best.id()) {
                    (*best, *best_rank) = (limit, rank);
                }
            })
            .or_insert((limit, rank));
    }
    let standing: Vec<Standing> = live
        .iter()
        .map(|t| {
            let limit = get(t);
            match limit.family().and_then(|f| winners.get(f)) {
                Some((best, _)) if !best.same_selector(limit) => {
                    Standing::ReplacedBy(best.id().to_owned())
                }
                _ => Standing::Applies,
            }
        })
        .collect();
    let mut applying = Vec::with_capacity(live.len());
    let mut replaced = Vec::new();
    for (t, standing) in live.into_iter().zip(standing) {
        match standing {
            Standing::Applies => applying.push(t),
            Standing::ReplacedBy(by) => replaced.push((t, by)),
        }
    }
    (applying, replaced)
}

/// The limit among `others` (of the same tenant and metric) that `limit` would tie with, if
/// any: one of its family, not expired at `now`, with another selector of as many pairs that
/// one subject could match together with `limit`'s.
pub fn tie<'a>(
    limit: &Limit,
    others: impl IntoIterator<Item = &'a Limit>,
    now: DateTime<Utc>,
) -> Option<&'a Limit> {
    let family = limit.family.as_deref()?;
    if limit.expired(now) {
        return None;
    }
    others.into_iter().find(|other| {
        other.id != limit.id
            && other.metric == limit.metric
            && other.family.as_deref() == Some(family)
            && !other.expired(now)
            && other.selector != limit.selector
            && specificity(other) == specificity(limit)
            && compatible(&other.selector, &limit.selector)
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;
    use crate::domain::limit::{Amount, Mode};
    use crate::domain::window::Window;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("instant")
    }

    fn limit(id: &str, selector: &[(&str, &str)], family: Option<&str>) -> Limit {
        Limit {
            id: id.into(),
            tenant_id: Uuid::nil(),
            selector: Subject::trusted(
                selector
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            metric: "m".into(),
            amount: Amount::Limited(1),
            window: Window::Minute,
            blocking: true,
            owner: None,
            per: Vec::new(),
            family: family.map(str::to_owned),
            expires_at: None,
            mode: Mode::Enforce,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn ids(limits: &[Limit]) -> Vec<&str> {
        limits.iter().map(|l| l.id.as_str()).collect()
    }

    #[test]
    fn a_subjects_own_limit_replaces_the_default_of_its_family() {
        let every_user = limit("every-user", &[], Some("users"));
        let u7 = limit("u7", &[("user", "u7")], Some("users"));
        let org = limit("org", &[], None);
        let (applying, replaced) = resolve(vec![every_user, u7, org], now(), |l| l);
        assert_eq!(ids(&applying), ["u7", "org"]);
        assert_eq!(replaced.len(), 1);
        assert_eq!(
            (replaced[0].0.id.as_str(), replaced[0].1.as_str()),
            ("every-user", "u7")
        );
    }

    #[test]
    fn limits_with_the_same_selector_apply_together() {
        let minute = limit("minute", &[("user", "u7")], Some("users"));
        let day = limit("day", &[("user", "u7")], Some("users"));
        let default = limit("default", &[], Some("users"));
        let (applying, replaced) = resolve(vec![minute, day, default], now(), |l| l);
        assert_eq!(ids(&applying), ["minute", "day"]);
        assert_eq!(replaced[0].1, "day");
    }

    #[test]
    fn an_expired_override_neither_applies_nor_replaces() {
        let default = limit("default", &[], Some("users"));
        let mut u7 = limit("u7", &[("user", "u7")], Some("users"));
        u7.expires_at = Some(now() - TimeDelta::seconds(1));
        let (applying, replaced) = resolve(vec![default, u7], now(), |l| l);
        assert_eq!(ids(&applying), ["default"]);
        assert!(replaced.is_empty());
    }

    #[test]
    fn two_selectors_of_one_family_that_one_subject_could_match_with_as_many_pairs_tie() {
        let by_user = limit("by-user", &[("user", "u7")], Some("f"));
        let by_team = limit("by-team", &[("team", "t1")], Some("f"));
        let other_user = limit("other-user", &[("user", "u8")], Some("f"));
        let pair = limit("pair", &[("user", "u7"), ("team", "t1")], Some("f"));
        let elsewhere = limit("elsewhere", &[("team", "t1")], Some("g"));
        let existing = [by_team.clone(), other_user.clone(), elsewhere];
        assert_eq!(
            tie(&by_user, &existing, now()).map(|l| l.id.as_str()),
            Some("by-team")
        );
        assert!(tie(&other_user, std::slice::from_ref(&by_user), now()).is_none());
        assert!(tie(&pair, &existing, now()).is_none());
        assert!(tie(&limit("solo", &[("team", "t1")], None), &existing, now()).is_none());
    }

    #[test]
    fn a_tie_found_anyway_is_broken_by_the_smallest_id() {
        let a = limit("a", &[("user", "u7")], Some("f"));
        let b = limit("b", &[("team", "t1")], Some("f"));
        let (applying, replaced) = resolve(vec![b, a], now(), |l| l);
        assert_eq!(ids(&applying), ["a"]);
        assert_eq!(replaced[0].1, "a");
    }
}
