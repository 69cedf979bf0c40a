//! quotaplane's own quota codes: resources it counts itself (client quotas, API keys, DataRobot
//! quotas), with their scopes and default limits.

use super::{QuotaCode, Scope};
use crate::domain::{Error, Result};

/// Client quotas on one Kafka cluster.
pub const KAFKA_CLIENT_QUOTAS: &str = "kafka.max_client_quotas.per_cluster";
/// API keys of an organization.
pub const API_KEYS: &str = "iam.max_api_keys.per_org";
/// DataRobot quotas of an organization.
pub const DATAROBOT_QUOTAS: &str = "datarobot.max_quotas.per_org";

/// One of quotaplane's own codes: code, scope, display name and default limit.
type Row = (&'static str, Scope, &'static str, i64);

/// quotaplane's own codes.
const BUILTIN: [Row; 3] = [
    (
        KAFKA_CLIENT_QUOTAS,
        Scope::KafkaCluster,
        "Client Quotas Per Kafka Cluster",
        100,
    ),
    (
        API_KEYS,
        Scope::Organization,
        "API Keys Per Organization",
        100,
    ),
    (
        DATAROBOT_QUOTAS,
        Scope::Organization,
        "DataRobot Quotas Per Organization",
        1000,
    ),
];

fn quota_code(&(code, scope, name, default_limit): &Row) -> QuotaCode {
    QuotaCode {
        code: code.into(),
        scope,
        display_name: name.into(),
        default_limit,
        builtin: true,
    }
}

/// quotaplane's own codes and their defaults (usage counted by quotaplane itself).
pub fn builtin_codes() -> Vec<QuotaCode> {
    BUILTIN.iter().map(quota_code).collect()
}

/// Whether `code` is one of quotaplane's own codes (asked of every usage request's metric, so
/// without building the catalogue).
pub fn is_builtin(code: &str) -> bool {
    BUILTIN.iter().any(|(own, ..)| *own == code)
}

/// The built-in code `code`, if it is one.
pub fn builtin(code: &str) -> Option<QuotaCode> {
    BUILTIN
        .iter()
        .find(|(own, ..)| *own == code)
        .map(quota_code)
}

/// One of quotaplane's own codes, by its constant.
pub fn own(code: &str) -> Result<QuotaCode> {
    builtin(code).ok_or_else(|| Error::Internal(format!("{code} is not a built-in code")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_builtin_knows_the_builtin_codes_and_nothing_else() {
        assert!(builtin_codes().iter().all(|c| is_builtin(&c.code)));
        assert!(!is_builtin("requests") && !is_builtin(""));
    }
}
