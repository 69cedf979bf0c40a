//! The records of each kind of change, built by the services that make them: the action follows
//! from which side is absent, the tenant and id from the resource.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::json::*;
use super::{Actor, AuditRecord, ResourceType};
use crate::domain::confluent::ClientQuota;
use crate::domain::datarobot::{Quota, Template};
use crate::domain::limit::Limit;
use crate::domain::principal::ApiKey;
use crate::domain::tenant::Tenant;
use crate::domain::zitadel::QuotaRecord;
use crate::domain::zitadel_instance::InstanceLimits;

/// A change of a resource of `kind` from `before` to `after` (at least one present): `key`
/// names its tenant and id, `json` its terms.
fn record<T>(
    actor: &Actor,
    kind: ResourceType,
    (before, after): (Option<&T>, Option<&T>),
    at: DateTime<Utc>,
    key: impl Fn(&T) -> (Uuid, String),
    json: impl Fn(&T) -> Value,
) -> AuditRecord {
    let (tenant_id, id) = before.or(after).map(&key).unwrap_or_default();
    AuditRecord::change(
        actor,
        tenant_id,
        kind,
        id,
        before.map(&json),
        after.map(&json),
        at,
    )
}

/// A limit created, replaced or deleted.
pub fn limit_change(
    actor: &Actor,
    before: Option<&Limit>,
    after: Option<&Limit>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |l: &Limit| (l.tenant_id, l.id.clone());
    record(
        actor,
        ResourceType::Limit,
        (before, after),
        at,
        key,
        limit_json,
    )
}

/// A key issued or revoked (never its secret or the secret's hash).
pub fn key_change(
    actor: &Actor,
    before: Option<&ApiKey>,
    after: Option<&ApiKey>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |k: &ApiKey| (k.tenant_id, k.id.clone());
    record(actor, ResourceType::Key, (before, after), at, key, key_json)
}

/// A tenant created or renamed.
pub fn tenant_change(
    actor: &Actor,
    before: Option<&Tenant>,
    after: Option<&Tenant>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |t: &Tenant| (t.id, t.id.to_string());
    record(
        actor,
        ResourceType::Tenant,
        (before, after),
        at,
        key,
        tenant_json,
    )
}

/// A Confluent client quota created, updated or deleted.
pub fn client_quota_change(
    actor: &Actor,
    before: Option<&ClientQuota>,
    after: Option<&ClientQuota>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |q: &ClientQuota| (q.tenant_id, q.id.clone());
    let kind = ResourceType::ConfluentClientQuota;
    record(actor, kind, (before, after), at, key, client_quota_json)
}

/// A DataRobot quota created, updated or deleted.
pub fn datarobot_quota_change(
    actor: &Actor,
    before: Option<&Quota>,
    after: Option<&Quota>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |q: &Quota| (q.tenant_id, q.id.clone());
    let kind = ResourceType::DataRobotQuota;
    record(actor, kind, (before, after), at, key, datarobot_quota_json)
}

/// A DataRobot quota template created, replaced or deleted.
pub fn datarobot_template_change(
    actor: &Actor,
    before: Option<&Template>,
    after: Option<&Template>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |t: &Template| (t.tenant_id, t.id.clone());
    let kind = ResourceType::DataRobotTemplate;
    record(
        actor,
        kind,
        (before, after),
        at,
        key,
        datarobot_template_json,
    )
}

/// A ZITADEL instance quota (its record and its limit) added, set or removed.
pub fn zitadel_quota_change(
    actor: &Actor,
    before: Option<(&QuotaRecord, Option<&Limit>)>,
    after: Option<(&QuotaRecord, &Limit)>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let after = after.map(|(r, l)| (r, Some(l)));
    let key = |(r, _): &(&QuotaRecord, Option<&Limit>)| (r.tenant_id, r.unit.name().to_owned());
    let json = |(r, l): &(&QuotaRecord, Option<&Limit>)| zitadel_quota_json(r, *l);
    let kind = ResourceType::ZitadelQuota;
    record(
        actor,
        kind,
        (before.as_ref(), after.as_ref()),
        at,
        key,
        json,
    )
}

/// A ZITADEL instance's limits set or reset.
pub fn zitadel_limits_change(
    actor: &Actor,
    before: Option<&InstanceLimits>,
    after: Option<&InstanceLimits>,
    at: DateTime<Utc>,
) -> AuditRecord {
    let key = |l: &InstanceLimits| (l.tenant_id, l.tenant_id.to_string());
    let kind = ResourceType::ZitadelLimits;
    record(actor, kind, (before, after), at, key, zitadel_limits_json)
}
