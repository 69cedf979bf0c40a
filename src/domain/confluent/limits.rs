//! How a client quota is expressed as engine limits: for each principal, a blocking per-second
//! limit on ingress bytes and one on egress bytes, on the subject
//! `{environment, kafka_cluster, principal}`.
//!
//! As in Kafka, `<default>` gives *each* principal without a client quota of its own on the
//! cluster the default rate for itself: its limits select the cluster only and are split `per`
//! principal, in one family with the principals' own limits, whose selectors are more specific
//! and so replace the default for them (see [`crate::domain::precedence`]).

use super::{ClientQuota, DEFAULT_PRINCIPAL};
use crate::domain::limit::{Amount, Limit, Subject};
use crate::domain::window::Window;

/// The metric of bytes a principal produces to a cluster.
pub const INGRESS_METRIC: &str = "kafka_ingress_bytes";
/// The metric of bytes a principal consumes from a cluster.
pub const EGRESS_METRIC: &str = "kafka_egress_bytes";
/// Subject key naming the environment.
pub const SUBJECT_ENVIRONMENT: &str = "environment";
/// Subject key naming the Kafka cluster.
pub const SUBJECT_CLUSTER: &str = "kafka_cluster";
/// Subject key naming the principal (a service account, a user, or `<default>`).
pub const SUBJECT_PRINCIPAL: &str = "principal";

/// The owner recorded on the limits of client quota `id`.
pub fn owner_of(id: &str) -> String {
    format!("confluent:{id}")
}

/// The id of the limit of client quota `quota_id` on `metric` for `principal`.
pub fn limit_id(quota_id: &str, principal: &str, metric: &str) -> String {
    format!("confluent.{quota_id}.{principal}.{metric}")
}

/// The family of every client quota's limits: a principal's own replaces `<default>`.
pub const FAMILY: &str = "confluent-client-quota";

/// Every limit `quota` owns, two per principal.
pub fn limits_of(quota: &ClientQuota) -> Vec<Limit> {
    let owner = owner_of(&quota.id);
    let mut limits = Vec::with_capacity(quota.principals.len() * 2);
    for principal in &quota.principals {
        let cluster = [
            (SUBJECT_ENVIRONMENT, quota.environment.as_str()),
            (SUBJECT_CLUSTER, quota.cluster.as_str()),
        ];
        let (selector, per) = if principal == DEFAULT_PRINCIPAL {
            (Subject::of(cluster), vec![SUBJECT_PRINCIPAL.to_owned()])
        } else {
            let [env, kc] = cluster;
            let own = Subject::of([env, kc, (SUBJECT_PRINCIPAL, principal.as_str())]);
            (own, Vec::new())
        };
        for (metric, rate) in [
            (INGRESS_METRIC, quota.throughput.ingress_byte_rate),
            (EGRESS_METRIC, quota.throughput.egress_byte_rate),
        ] {
            limits.push(Limit {
                id: limit_id(&quota.id, principal, metric),
                tenant_id: quota.tenant_id,
                selector: selector.clone(),
                metric: metric.to_owned(),
                amount: Amount::Limited(rate),
                window: Window::Second,
                blocking: true,
                owner: Some(owner.clone()),
                per: per.clone(),
                family: Some(FAMILY.to_owned()),
                expires_at: None,
                mode: crate::domain::limit::Mode::Enforce,
                created_at: quota.created_at,
                updated_at: quota.updated_at,
            });
        }
    }
    limits
}
