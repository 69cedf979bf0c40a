//! What the log keeps of each kind of resource: its terms as JSON, never a secret or a hash.

use serde_json::{Value, json};

use crate::domain::confluent::ClientQuota;
use crate::domain::datarobot::{Quota, Template};
use crate::domain::limit::{Amount, Limit};
use crate::domain::principal::ApiKey;
use crate::domain::tenant::Tenant;
use crate::domain::waldur::OwnLimits;
use crate::domain::zitadel::QuotaRecord;
use crate::domain::zitadel_instance::InstanceLimits;

fn amount(a: Amount) -> Value {
    match a {
        Amount::Limited(n) => json!(n),
        Amount::Unlimited => json!("unlimited"),
    }
}

/// A limit's terms (as the native API shows them, without usage).
pub fn limit_json(l: &Limit) -> Value {
    let window = l.window.spec();
    json!({
        "id": l.id,
        "subject": l.selector.as_map(),
        "metric": l.metric,
        "amount": amount(l.amount),
        "window": {
            "kind": window.kind,
            "from": window.from,
            "interval_seconds": window.interval_seconds,
        },
        "blocking": l.blocking,
        "per": l.per,
        "owner": l.owner,
        "family": l.family,
        "expires_at": l.expires_at,
        "mode": l.mode.as_str(),
    })
}

/// A key without its secret or the secret's hash.
pub fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "roles": k.roles.names(),
        "user_id": k.user_id,
        "description": k.description,
        "created_at": k.created_at,
    })
}

/// A tenant.
pub fn tenant_json(t: &Tenant) -> Value {
    json!({"id": t.id, "name": t.name.as_str(), "created_at": t.created_at})
}

/// A Confluent client quota.
pub fn client_quota_json(q: &ClientQuota) -> Value {
    json!({
        "id": q.id,
        "display_name": q.display_name,
        "description": q.description,
        "throughput": {
            "ingress_byte_rate": q.throughput.ingress_byte_rate,
            "egress_byte_rate": q.throughput.egress_byte_rate,
        },
        "environment": q.environment,
        "cluster": q.cluster,
        "principals": q.principals,
    })
}

/// A DataRobot quota.
pub fn datarobot_quota_json(q: &Quota) -> Value {
    json!({
        "id": q.id,
        "resource_type": q.resource_type,
        "resource_id": q.resource_id,
        "user_id": q.user_id,
        "default_rules": q.default_rules,
        "policies": q.policies,
        "capacity": q.capacity,
        "saturation_threshold": q.saturation_threshold,
    })
}

/// A DataRobot quota template.
pub fn datarobot_template_json(t: &Template) -> Value {
    json!({"id": t.id, "name": t.name, "rules": t.rules})
}

/// A ZITADEL instance quota: its record and the terms of its limit.
pub fn zitadel_quota_json(q: &QuotaRecord, limit: Option<&Limit>) -> Value {
    json!({
        "unit": q.unit.name(),
        "sequence": q.sequence,
        "limit": limit.map(limit_json),
    })
}

/// A ZITADEL instance's limits.
pub fn zitadel_limits_json(l: &InstanceLimits) -> Value {
    json!({
        "block": l.block,
        "audit_log_retention_seconds": l.audit_log_retention.map(|d| d.num_seconds()),
        "sequence": l.sequence,
    })
}

/// A Waldur user's own chat token limits (`null`: the system default, -1: unlimited).
pub fn chat_quota_json(own: &OwnLimits) -> Value {
    json!({"daily_limit": own.daily, "weekly_limit": own.weekly, "monthly_limit": own.monthly})
}
