//! Confluent's documented service quota codes ("Service Quotas for Confluent Cloud",
//! docs.confluent.io/cloud/current/quotas/service-quotas; see docs/confluent.md for the dates and
//! which values are unconfirmed). They are operator codes that every installation starts with:
//! their usage comes from `report` (the resources they count live outside quotaplane), and an
//! operator may redefine their default like any code of their own.

use super::{QuotaCode, Scope};

/// The documented codes: (code, scope, display name, default limit).
const DOCUMENTED: &[(&str, Scope, &str, i64)] = &[
    (
        "iam.max_environments.per_org",
        Scope::Organization,
        "Environments Per Organization",
        25,
    ),
    (
        "iam.max_kafka_clusters.per_org",
        Scope::Organization,
        "Kafka Clusters Per Organization",
        400,
    ),
    (
        "kafka.max_kafka_clusters.per_env",
        Scope::Environment,
        "Kafka Clusters Per Environment",
        20,
    ),
    (
        "sd.max_pipelines.per_organization",
        Scope::Organization,
        "Stream Designer Pipelines Per Organization",
        100,
    ),
];

/// Every documented code, as the catalogue shows it before an operator redefines one.
pub fn documented_codes() -> Vec<QuotaCode> {
    DOCUMENTED
        .iter()
        .map(|(code, scope, name, default_limit)| QuotaCode {
            code: (*code).to_owned(),
            scope: *scope,
            display_name: (*name).to_owned(),
            default_limit: *default_limit,
            builtin: false,
        })
        .collect()
}

/// The documented code `code`, if it is one.
pub fn documented(code: &str) -> Option<QuotaCode> {
    documented_codes().into_iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_are_valid_operator_codes_distinct_from_quotaplanes_own() {
        for code in documented_codes() {
            assert!(
                super::super::check_code(&code.code, "/c").is_ok(),
                "{}",
                code.code
            );
            assert!(super::super::builtin(&code.code).is_none(), "{}", code.code);
            assert!(!code.builtin);
        }
        assert_eq!(
            documented("iam.max_environments.per_org").map(|c| c.default_limit),
            Some(25)
        );
    }
}
