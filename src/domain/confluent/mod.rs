//! Confluent client quotas (kafka-quotas/v1) in the domain's words: a named throughput ceiling
//! (ingress and egress bytes per second) for a list of principals on one Kafka cluster of one
//! environment. A principal, the `<default>` principal included, has at most one client quota per
//! cluster. Each client quota owns two engine limits per principal, so the usage engine and the
//! native `/v1/limits` see them.

mod limits;
pub mod page;
mod service;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use super::{Error, Result};

pub use limits::{EGRESS_METRIC, INGRESS_METRIC, SUBJECT_CLUSTER, SUBJECT_ENVIRONMENT};
pub use limits::{FAMILY, SUBJECT_PRINCIPAL, limit_id, limits_of, owner_of};
pub use service::{ClientQuotas, DEFAULT_PAGE_SIZE, Effective, MAX_PAGE_SIZE, Page, page_size};

/// The principal whose client quota applies to every principal without one of its own.
pub const DEFAULT_PRINCIPAL: &str = "<default>";
/// Longest id of a cluster, environment or principal (the vendor's `maxLength`).
pub const MAX_ID_CHARS: usize = crate::domain::limit::MAX_VALUE_CHARS;
/// Longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 255;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Most principals one client quota may name (each costs two engine limits).
pub const MAX_PRINCIPALS: usize = 200;

/// A client quota as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientQuota {
    /// `cq-` and a short random suffix, unique within the tenant.
    pub id: String,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub throughput: Throughput,
    pub environment: String,
    pub cluster: String,
    /// In the order given; no duplicates.
    pub principals: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Bytes per second a principal may produce (ingress) and consume (egress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throughput {
    pub ingress_byte_rate: i64,
    pub egress_byte_rate: i64,
}

/// What a new client quota is made of, each part already checked.
#[derive(Debug, Clone)]
pub struct Draft {
    pub display_name: String,
    pub description: Option<String>,
    pub throughput: Throughput,
    pub environment: String,
    pub cluster: String,
    pub principals: Vec<String>,
}

/// What an update may change; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub throughput: Option<Throughput>,
    pub principals: Option<Vec<String>>,
}

/// Where a principal already has a client quota on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalClash {
    pub principal: String,
    pub quota_id: String,
}

impl ClientQuota {
    /// The quota with `changes` applied at `now`.
    pub fn changed(mut self, changes: Changes, now: DateTime<Utc>) -> Self {
        if let Some(name) = changes.display_name {
            self.display_name = name;
        }
        if let Some(description) = changes.description {
            self.description = Some(description);
        }
        if let Some(throughput) = changes.throughput {
            self.throughput = throughput;
        }
        if let Some(principals) = changes.principals {
            self.principals = principals;
        }
        self.updated_at = now;
        self
    }
}

/// A display name: 1 to 255 characters, not only blanks.
pub fn display_name(value: String, pointer: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::invalid_body(pointer, "must not be empty"));
    }
    bounded(value, MAX_DISPLAY_NAME_CHARS, pointer)
}

/// A description: at most 4096 characters (empty is allowed).
pub fn description(value: String, pointer: &str) -> Result<String> {
    bounded(value, MAX_DESCRIPTION_CHARS, pointer)
}

/// The id of a cluster, environment or principal: 1 to 255 characters, no control characters.
pub fn resource_id(value: String, pointer: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::invalid_body(pointer, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_body(
            pointer,
            "must not contain control characters",
        ));
    }
    bounded(value, MAX_ID_CHARS, pointer)
}

/// A byte rate as the vendor writes it: a decimal int64 of 0 or more, in a string.
pub fn byte_rate(value: &str, pointer: &str) -> Result<i64> {
    let invalid = || {
        Error::invalid_body(
            pointer,
            "must be a decimal integer of 0 or more (int64), written as a string",
        )
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse::<i64>().map_err(|_| invalid())
}

/// A principal list: 1 to 200 ids, each valid, none twice. `ids` pairs each id with its pointer.
pub fn principals(ids: Vec<(String, String)>, pointer: &str) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Err(Error::invalid_body(
            pointer,
            "must name at least one principal",
        ));
    }
    if ids.len() > MAX_PRINCIPALS {
        return Err(Error::invalid_body(
            pointer,
            format!("must name at most {MAX_PRINCIPALS} principals"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for (id, at) in ids {
        let id = resource_id(id, &at)?;
        if out.contains(&id) {
            return Err(Error::invalid_body(at, "names a principal already listed"));
        }
        out.push(id);
    }
    Ok(out)
}

fn bounded(value: String, max: usize, pointer: &str) -> Result<String> {
    crate::domain::text::check_free_text(&value, max, pointer)?;
    Ok(value)
}

/// A fresh client quota id: `cq-` and 8 lower-case letters and digits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("cq-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_rates_are_decimal_int64_strings_of_zero_or_more() {
        assert_eq!(byte_rate("0", "/p").ok(), Some(0));
        assert_eq!(byte_rate("1000000", "/p").ok(), Some(1_000_000));
        assert_eq!(byte_rate("9223372036854775807", "/p").ok(), Some(i64::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            "1e6",
            " 1",
            "9223372036854775808",
            "x",
        ] {
            assert!(byte_rate(bad, "/p").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn principals_must_be_present_and_distinct() {
        let at = |i: usize| format!("/spec/principals/{i}/id");
        assert!(principals(vec![], "/spec/principals").is_err());
        let twice = vec![("sa-1".into(), at(0)), ("sa-1".into(), at(1))];
        assert!(
            matches!(principals(twice, "/spec/principals"), Err(Error::Invalid { field, .. }) if field.name() == "/spec/principals/1/id")
        );
        let empty = vec![(String::new(), at(0))];
        assert!(principals(empty, "/spec/principals").is_err());
    }

    #[test]
    fn display_names_are_not_blank_and_ids_look_like_the_vendors() {
        assert!(display_name(" ".into(), "/d").is_err());
        assert!(display_name("a".repeat(256), "/d").is_err());
        assert!(resource_id("lkc-1\n".into(), "/c").is_err());
        let id = new_id();
        assert!(id.starts_with("cq-") && id.len() == 11, "{id}");
    }
}
