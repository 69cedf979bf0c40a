//! Service quotas (Confluent's applied quotas, `service-quota/v1`): a catalogue of quota codes,
//! each with a scope, a display name and a default limit, and for each scope reference of a
//! tenant the limit that applies (the default, or what an operator adjusted it to) and the usage.
//!
//! An applied quota is one engine limit: metric = the code, selector = the scope reference
//! (`{"organization": <tenant>}` for organization-wide codes, else the reference pairs such as
//! `{"environment", "kafka_cluster"}`), amount = the applied limit, no window, blocking, owner
//! `service-quota:<code>`. quotaplane's own resources (client quotas, API keys, DataRobot
//! quotas) consume one unit before they are created and give it back when they go, so their
//! usage follows creates and deletes exactly and a create past the limit is refused atomically.
//! Resources made before their limit existed are counted when it is made.

mod adjust;
mod builtin;
mod defaults;
mod documented;
mod enforce;
mod listing;
mod scope;
mod service;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::limit::{Amount, Limit, Subject, partition_by};
use super::window::Window;
use super::{Error, Result};

pub use builtin::{
    API_KEYS, DATAROBOT_QUOTAS, KAFKA_CLIENT_QUOTAS, builtin, builtin_codes, is_builtin, own,
};
pub use documented::{documented, documented_codes};
pub use enforce::{give_back, live_count, no_room, release, take, unit};
pub use scope::{REFERENCE_KEYS, Scope};
pub use service::{Adjustment, Applied, AppliedPage, ListFilter, ServiceQuotas, page_size};

/// The subject key an organization-wide applied quota selects on.
pub const ORGANIZATION_KEY: &str = "organization";
/// Longest quota code.
pub const MAX_CODE_CHARS: usize = 100;
/// Longest display name of a code.
pub const MAX_DISPLAY_NAME_CHARS: usize = 255;
/// Longest scope reference value (the vendor's `maxLength`).
pub const MAX_REFERENCE_CHARS: usize = crate::domain::limit::MAX_VALUE_CHARS;
/// Largest limit (the vendor's limits are int32).
pub const MAX_LIMIT: i64 = i32::MAX as i64;

/// One entry of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCode {
    pub code: String,
    pub scope: Scope,
    pub display_name: String,
    pub default_limit: i64,
    /// quotaplane's own resources: usage is counted live and enforced by quotaplane.
    pub builtin: bool,
}

/// Checks a quota code: 1 to 100 of `a-z`, `0-9`, `.`, `_`, `-`.
pub fn check_code(code: &str, pointer: &str) -> Result<()> {
    let ok = !code.is_empty()
        && code.len() <= MAX_CODE_CHARS
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_body(
            pointer,
            format!("must be 1 to {MAX_CODE_CHARS} of a-z, 0-9, '.', '_' and '-'"),
        ))
    }
}

/// Checks a display name: 1 to 255 characters, not blank.
pub fn check_display_name(name: &str, pointer: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid_body(pointer, "must not be blank"));
    }
    crate::domain::text::check_free_text(name, MAX_DISPLAY_NAME_CHARS, pointer)
}

/// Checks a limit: 0 to 2^31 - 1.
pub fn check_limit(limit: i64, pointer: &str) -> Result<i64> {
    if (0..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid_body(
            pointer,
            format!("must be between 0 and {MAX_LIMIT}"),
        ))
    }
}

/// One instance of a scope: the values of its references, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ScopeRef(BTreeMap<String, String>);

impl ScopeRef {
    /// The reference of `scope` among `given` (key -> value); a missing or bad reference is an
    /// error made by `missing(key, message)`, so the caller says where it was looked for.
    pub fn of(
        scope: Scope,
        given: &BTreeMap<String, String>,
        missing: impl Fn(&str, String) -> Error,
    ) -> Result<Self> {
        let mut pairs = BTreeMap::new();
        for key in scope.references() {
            let value = given.get(*key).filter(|v| !v.is_empty()).ok_or_else(|| {
                missing(
                    key,
                    format!("'{key}' is required for quotas of scope {}", scope.name()),
                )
            })?;
            if value.chars().count() > MAX_REFERENCE_CHARS || value.chars().any(char::is_control) {
                return Err(missing(
                    key,
                    format!("must be 1 to {MAX_REFERENCE_CHARS} characters, no control characters"),
                ));
            }
            pairs.insert((*key).to_owned(), value.clone());
        }
        Ok(Self(pairs))
    }

    /// A reference read back from the pairs it was recorded as.
    pub(crate) fn from_map(pairs: BTreeMap<String, String>) -> Self {
        Self(pairs)
    }

    /// The pairs, by key.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// A reference read back from a limit's selector.
    pub(crate) fn from_selector(selector: &Subject) -> Self {
        Self(
            selector
                .pairs()
                .filter(|(k, _)| *k != ORGANIZATION_KEY)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The reference a partition of `scope`'s default stands for (`None` for one counted by a
    /// subject that lacked a reference).
    pub(crate) fn from_partition(scope: Scope, per_value: &str) -> Option<Self> {
        let values: Vec<Option<String>> = serde_json::from_str(per_value).ok()?;
        let keys = scope.references();
        if values.len() != keys.len() {
            return None;
        }
        let pairs = keys
            .iter()
            .zip(values)
            .map(|(k, v)| Some(((*k).to_owned(), v?)));
        pairs.collect::<Option<BTreeMap<_, _>>>().map(Self)
    }

    /// The reference of a Kafka cluster.
    pub fn kafka_cluster(environment: &str, cluster: &str) -> Self {
        let mut pairs = BTreeMap::new();
        pairs.insert("environment".to_owned(), environment.to_owned());
        pairs.insert("kafka_cluster".to_owned(), cluster.to_owned());
        Self(pairs)
    }

    /// The reference of an organization-wide quota (the tenant says which organization).
    pub fn organization() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The reference as a JSON object (for the audit).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Whether every pair of `filter` is in this reference.
    fn matches(&self, filter: &BTreeMap<String, String>) -> bool {
        filter.iter().all(|(k, v)| self.0.get(k) == Some(v))
    }
}

/// The engine subject of `reference` in `tenant_id` for a code of `scope`: what a consume
/// names and what the limit selects on.
pub fn subject(scope: Scope, tenant_id: Uuid, reference: &ScopeRef) -> Subject {
    if scope == Scope::Organization {
        return Subject::of([(ORGANIZATION_KEY, tenant_id.to_string().as_str())]);
    }
    // Trusted pairs: the keys are fixed and the values were checked by `ScopeRef::of`.
    Subject::trusted(reference.as_map().clone())
}

/// The id of the engine limit of `code` for `reference`: `service-quota.<code>`, and for scopes
/// with references a digest of them (ids are bounded; references are not).
pub fn limit_id(code: &str, reference: &ScopeRef) -> String {
    if reference.0.is_empty() {
        return format!("service-quota.{code}");
    }
    let digest = Sha256::digest(reference.to_json().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("service-quota.{code}.{hex}")
}

/// The owner of every limit of `code`.
pub fn owner_of(code: &str) -> String {
    format!("service-quota:{code}")
}

/// The family of every limit of `code`: a reference's own limit replaces the default for it.
pub fn family_of(code: &str) -> String {
    format!("service-quota.{code}")
}

/// The default limit of `code` in `tenant_id`: one limit split `per` the scope's references, so
/// every reference without a limit of its own counts on its own partition of the default amount
/// (an organization-wide code has one reference a tenant, so its default is its only limit).
/// Its id is that of the organization-wide reference: [`limit_id`] with no references.
pub fn default_limit(code: &QuotaCode, tenant_id: Uuid, amount: i64, now: DateTime<Utc>) -> Limit {
    Limit {
        id: limit_id(&code.code, &ScopeRef::organization()),
        tenant_id,
        selector: Subject::default(),
        metric: code.code.clone(),
        amount: Amount::Limited(amount),
        window: Window::None,
        blocking: true,
        owner: Some(owner_of(&code.code)),
        per: code
            .scope
            .references()
            .iter()
            .map(|k| (*k).to_owned())
            .collect(),
        family: Some(family_of(&code.code)),
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        created_at: now,
        updated_at: now,
    }
}

/// The limit of `code` that `reference` has of its own at `amount` (for an organization-wide
/// code, its default at that amount): it selects the reference, so it replaces the default.
pub fn own_limit(
    code: &QuotaCode,
    tenant_id: Uuid,
    reference: &ScopeRef,
    amount: i64,
    now: DateTime<Utc>,
) -> Limit {
    let default = default_limit(code, tenant_id, amount, now);
    if code.scope == Scope::Organization {
        return default;
    }
    Limit {
        id: limit_id(&code.code, reference),
        selector: Subject::trusted(reference.as_map().clone()),
        per: Vec::new(),
        ..default
    }
}

/// The partition of `code`'s default that `reference` counts on (empty for an
/// organization-wide code).
pub fn partition(code: &QuotaCode, reference: &ScopeRef) -> String {
    let references = code.scope.references().iter().copied();
    partition_by(references, &Subject::trusted(reference.as_map().clone()))
}

/// What an operator-defined code is made of.
#[derive(Debug, Clone)]
pub struct CodeDefinition {
    pub scope: Scope,
    pub display_name: String,
    pub default_limit: i64,
}

/// One change of an applied limit, for the audit.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub code: String,
    pub reference: ScopeRef,
    pub old_limit: i64,
    pub new_limit: i64,
    pub key_id: String,
    pub at: DateTime<Utc>,
}

/// One recorded change, as read back.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub reference: BTreeMap<String, String>,
    pub old_limit: i64,
    pub new_limit: i64,
    pub key_id: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_named_in_any_case() {
        assert_eq!(Scope::parse("kafka_cluster"), Some(Scope::KafkaCluster));
        assert_eq!(Scope::parse("Organization"), Some(Scope::Organization));
        assert_eq!(Scope::parse("cluster"), None);
    }

    #[test]
    fn a_scope_reference_needs_every_key_of_its_scope() {
        let mut given = BTreeMap::new();
        given.insert("environment".to_owned(), "env-1".to_owned());
        let missing = |k: &str, m: String| Error::invalid_query(k, m);
        assert!(ScopeRef::of(Scope::KafkaCluster, &given, missing).is_err());
        given.insert("kafka_cluster".to_owned(), "lkc-1".to_owned());
        given.insert("network".to_owned(), "n-1".to_owned());
        let reference = ScopeRef::of(Scope::KafkaCluster, &given, missing).expect("complete");
        assert_eq!(reference.get("network"), None);
        let id = limit_id(KAFKA_CLIENT_QUOTAS, &reference);
        assert!(id.starts_with("service-quota.kafka.max_client_quotas.per_cluster."));
        assert!(id.len() <= 200);
    }

    #[test]
    fn codes_are_bounded_lower_case_names() {
        assert!(check_code("iam.max_environments.per_org", "/c").is_ok());
        for bad in ["", "Upper", "a b", &"a".repeat(101)] {
            assert!(check_code(bad, "/c").is_err(), "{bad}");
        }
    }
}
