//! The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11): `RateLimit-Policy`
//! says which quota policies apply (`q` quota, `w` window seconds, `qu` unit) and `RateLimit`
//! where the caller stands in each (`r` remaining, `t` seconds to reset). Both are structured-field
//! lists (RFC 9651), written and merged with the `sfv` crate: the rate-limit layer puts the
//! per-key request policy first, in front of any engine limits a handler listed.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use sfv::{BareItem, Integer, Item, Key, List, ListEntry, ListSerializer, Parameters, Parser};

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
    pub name: String,
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
            name: status.quota_id.clone(),
            quota,
            window,
            unit,
            remaining: status.remaining.unwrap_or(quota - status.used).max(0),
            reset,
        })
    }
}

/// An integer parameter value, clamped to the structured-field range.
fn integer(value: i64) -> BareItem {
    let clamped = value.clamp(Integer::MIN.into(), Integer::MAX.into());
    BareItem::Integer(Integer::try_from(clamped).unwrap_or(Integer::ZERO))
}

/// The item `"name";params...`, or `None` when the name cannot be a structured-field string
/// (only printable ASCII can).
fn item(name: &str, params: &[(&str, BareItem)]) -> Option<ListEntry> {
    let name = sfv::String::try_from(name.to_owned()).ok()?;
    let mut parameters = Parameters::new();
    for (key, value) in params {
        parameters.insert(Key::try_from((*key).to_owned()).ok()?, value.clone());
    }
    Some(Item::with_params(BareItem::String(name), parameters).into())
}

fn policy_item(s: &PolicyStanding) -> Option<ListEntry> {
    let mut params = vec![("q", integer(s.quota))];
    if let Some(unit) = s.unit {
        params.push((
            "qu",
            BareItem::String(sfv::String::try_from(unit.to_owned()).ok()?),
        ));
    }
    if let Some(window) = s.window {
        params.push(("w", integer(window)));
    }
    item(&s.name, &params)
}

fn standing_item(s: &PolicyStanding) -> Option<ListEntry> {
    let mut params = vec![("r", integer(s.remaining))];
    if let Some(reset) = s.reset {
        params.push(("t", integer(reset)));
    }
    item(&s.name, &params)
}

/// The list already in `headers` under `name` (none, or unparsable: empty).
pub fn list(headers: &HeaderMap, name: &HeaderName) -> List {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| Parser::new(v).parse::<List>().ok())
        .flatten()
        .collect()
}

fn write(headers: &mut HeaderMap, name: &HeaderName, entries: &[ListEntry]) {
    let mut serializer = ListSerializer::new();
    serializer.members(entries);
    match serializer
        .finish()
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        Some(value) => {
            headers.insert(name.clone(), value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Puts `standings` in both fields, in front of (`first`) or after the items already there.
fn add(headers: &mut HeaderMap, standings: &[PolicyStanding], first: bool) {
    for (name, make) in [
        (
            &POLICY,
            policy_item as fn(&PolicyStanding) -> Option<ListEntry>,
        ),
        (&RATELIMIT, standing_item),
    ] {
        let ours: List = standings.iter().filter_map(make).collect();
        let theirs = list(headers, name);
        let merged: List = if first {
            ours.into_iter().chain(theirs).collect()
        } else {
            theirs.into_iter().chain(ours).collect()
        };
        write(headers, name, &merged);
    }
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
            name: name.into(),
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
