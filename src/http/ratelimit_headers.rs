//! The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11): `RateLimit-Policy`
//! says which quota policies apply (`q` quota, `w` window seconds, `qu` unit) and `RateLimit`
//! where the caller stands in each (`r` remaining, `t` seconds to reset). Both are structured-field
//! lists (RFC 9651), written and merged with the `sfv` crate: the rate-limit layer puts the
//! per-key request policy first, in front of any engine limits a handler listed.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use sfv::{Integer, KeyRef, ListSerializer, StringRef};

use crate::domain::usage::LimitStatus;

/// `RateLimit-Policy`.
pub static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The problem type of a refusal by a quota policy.
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";
/// The policy name of the per-key request rate limit.
pub const KEY_REQUESTS: &str = "key-requests";
/// The policy name of a tenant's request rate limit, shared by all its keys.
pub const TENANT_REQUESTS: &str = "tenant-requests";
/// The quota unit of a concurrency (lease) limit.
pub const CONCURRENT_REQUESTS: &str = "concurrent-requests";

/// One policy and where the caller stands in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStanding {
    /// The policy's name: a limit id, or [`KEY_REQUESTS`].
    pub name: Cow<'static, str>,
    /// `q`: the quota.
    pub quota: i64,
    /// `w`: the window in seconds, for limits whose usage resets.
    pub window: Option<i64>,
    /// `qu`: the quota unit, when not requests.
    pub unit: Option<&'static str>,
    /// `r`: what is left.
    pub remaining: i64,
    /// `t`: seconds until the quota resets, for limits that reset.
    pub reset: Option<i64>,
}

impl PolicyStanding {
    /// The standing of an engine limit after an operation at `now`; `None` for unlimited limits
    /// (they have no quota to state).
    pub fn of_limit(
        status: &LimitStatus,
        now: DateTime<Utc>,
        unit: Option<&'static str>,
    ) -> Option<Self> {
        let quota = status.limit?;
        let reset = status.reset_at.map(|at| (at - now).num_seconds().max(0));
        let window = status
            .window
            .next_reset(now)
            .map(|end| (end - status.window.period_start(now)).num_seconds());
        Some(Self {
            name: status.quota_id.clone().into(),
            quota,
            window,
            unit,
            remaining: status.remaining.unwrap_or(quota - status.used).max(0),
            reset,
        })
    }
}

/// An integer parameter value, clamped to the structured-field range.
fn integer(value: i64) -> Integer {
    let clamped = value.clamp(Integer::MIN.into(), Integer::MAX.into());
    Integer::try_from(clamped).unwrap_or(Integer::ZERO)
}

/// Writes `"name";q=..;qu=..;w=..` to `list`; nothing when the name cannot be a structured-field
/// string (only printable ASCII can).
fn policy_item(list: &mut ListSerializer<&mut String>, s: &PolicyStanding) {
    let (Ok(name), Ok(unit)) = (
        StringRef::from_str(&s.name),
        s.unit.map(StringRef::from_str).transpose(),
    ) else {
        return;
    };
    let mut item = list
        .bare_item(name)
        .parameter(KeyRef::constant("q"), integer(s.quota));
    if let Some(unit) = unit {
        item = item.parameter(KeyRef::constant("qu"), unit);
    }
    if let Some(window) = s.window {
        _ = item.parameter(KeyRef::constant("w"), integer(window));
    }
}

/// Writes `"name";r=..;t=..` to `list`, as [`policy_item`].
fn standing_item(list: &mut ListSerializer<&mut String>, s: &PolicyStanding) {
    let Ok(name) = StringRef::from_str(&s.name) else {
        return;
    };
    let item = list
        .bare_item(name)
        .parameter(KeyRef::constant("r"), integer(s.remaining));
    if let Some(reset) = s.reset {
        _ = item.parameter(KeyRef::constant("t"), integer(reset));
    }
}

/// `standings` serialized by `write` as one list (empty when none can be).
fn serialize(standings: &[PolicyStanding], write: Write) -> String {
    let mut list = String::new();
    let mut serializer = ListSerializer::with_buffer(&mut list);
    for standing in standings {
        write(&mut serializer, standing);
    }
    let _ = serializer.finish();
    list
}

type Write = fn(&mut ListSerializer<&mut String>, &PolicyStanding);

/// Puts the list `ours` in the field `name`, in front of (`first`) or after the items already
/// there. Those were all serialized here, so each value is a valid list and lists join as text.
fn join(headers: &mut HeaderMap, name: &HeaderName, ours: &str, first: bool) {
    let mut lists: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if first {
        lists.insert(0, ours);
    } else {
        lists.push(ours);
    }
    lists.retain(|l| !l.is_empty());
    match HeaderValue::try_from(lists.join(", ")) {
        Ok(value) if !lists.is_empty() => {
            headers.insert(name.clone(), value);
        }
        _ => {
            headers.remove(name);
        }
    }
}

/// Puts `standings` in both fields, in front of (`first`) or after the items already there.
fn add(headers: &mut HeaderMap, standings: &[PolicyStanding], first: bool) {
    for (name, write) in [(&POLICY, policy_item as Write), (&RATELIMIT, standing_item)] {
        join(headers, name, &serialize(standings, write), first);
    }
}

/// `standing`'s `RateLimit-Policy` item, serialized: the same for as long as its policy's
/// terms are, so a caller can keep it for [`prepend_one`].
pub fn policy_of(standing: &PolicyStanding) -> String {
    serialize(std::slice::from_ref(standing), policy_item)
}

/// [`prepend`] of one standing whose policy item is kept already serialized ([`policy_of`]).
pub fn prepend_one(headers: &mut HeaderMap, policy: &str, standing: &PolicyStanding) {
    join(headers, &POLICY, policy, true);
    let standing = serialize(std::slice::from_ref(standing), standing_item);
    join(headers, &RATELIMIT, &standing, true);
}

/// Adds `standings` after the items already in the fields (handlers: the engine's limits).
pub fn append(headers: &mut HeaderMap, standings: &[PolicyStanding]) {
    add(headers, standings, false);
}

/// Adds `standings` in front of the items already in the fields (the rate-limit layer).
pub fn prepend(headers: &mut HeaderMap, standings: &[PolicyStanding]) {
    add(headers, standings, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(name: &str, window: Option<i64>, unit: Option<&'static str>) -> PolicyStanding {
        PolicyStanding {
            name: name.to_owned().into(),
            quota: 1000,
            window,
            unit,
            remaining: 250,
            reset: window.map(|_| 3600),
        }
    }

    #[test]
    fn policies_are_structured_field_lists_with_the_drafts_parameters() {
        let mut headers = HeaderMap::new();
        append(&mut headers, &[standing("daily", Some(86400), None)]);
        append(
            &mut headers,
            &[standing("slots", None, Some(CONCURRENT_REQUESTS))],
        );
        prepend(&mut headers, &[standing(KEY_REQUESTS, Some(60), None)]);
        assert_eq!(
            headers[&POLICY],
            "\"key-requests\";q=1000;w=60, \"daily\";q=1000;w=86400, \
             \"slots\";q=1000;qu=\"concurrent-requests\""
        );
        assert_eq!(
            headers[&RATELIMIT],
            "\"key-requests\";r=250;t=3600, \"daily\";r=250;t=3600, \"slots\";r=250"
        );
    }

    #[test]
    fn a_policy_kept_serialized_is_prepended_as_prepend_would() {
        let key = standing(KEY_REQUESTS, Some(60), None);
        let mut kept = HeaderMap::new();
        let mut fresh = HeaderMap::new();
        for headers in [&mut kept, &mut fresh] {
            append(headers, &[standing("daily", Some(86400), None)]);
        }
        prepend_one(&mut kept, &policy_of(&key), &key);
        prepend(&mut fresh, &[key]);
        assert_eq!(kept, fresh);
        assert_eq!(
            kept[&POLICY],
            "\"key-requests\";q=1000;w=60, \"daily\";q=1000;w=86400"
        );
    }

    #[test]
    fn a_name_that_cannot_be_a_structured_string_is_left_out() {
        let mut headers = HeaderMap::new();
        append(
            &mut headers,
            &[
                standing("día", Some(86400), None),
                standing("ok", None, None),
            ],
        );
        assert_eq!(headers[&POLICY], "\"ok\";q=1000");
    }

    #[test]
    fn integers_past_the_structured_field_range_are_clamped() {
        let mut s = standing("big", None, None);
        s.quota = i64::MAX;
        let mut headers = HeaderMap::new();
        append(&mut headers, &[s]);
        assert_eq!(headers[&POLICY], "\"big\";q=999999999999999");
    }
}
