//! The commands on an instance's quotas (`AddQuota`, `SetQuota`, `RemoveQuota`): each writes
//! the quota's row and its limit in one aggregate write.

use crate::domain::aggregate::{AggregateStore, AggregateWrite, OwnedLimits, Row, Rules, Written};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::audit::{
    Actor, AuditRecord, zitadel_quota_change as quota_change, zitadel_quota_json,
};
use crate::domain::limit::{Amount, Limit, Subject};
use crate::domain::notification::Notification;
use crate::domain::ports::*;
use crate::domain::principal::Caller;
use crate::domain::usage::{Engine, MAX_AMOUNT};
use crate::domain::window::Window;
use crate::domain::zitadel_instance::InstanceStore;
use crate::domain::{Error, Result};

/// The tenant an `instanceId` names, for a system caller: `Forbidden` for any other caller,
/// `NotFound` when no tenant has that id.
pub async fn instance(store: &impl Store, caller: &Caller, instance_id: &str) -> Result<Uuid> {
    caller.require_system()?;
    let id = Uuid::parse_str(instance_id).map_err(|_| Error::NotFound("instance"))?;
    store
        .tenant(id)
        .await?
        .map(|t| t.id)
        .ok_or(Error::NotFound("instance"))
}

/// AddQuota: creates the instance's quota (the instance as resolved by [`instance`]) for the unit; `AlreadyExists` when it has one.
pub async fn add_quota<S: EngineStore + InstanceStore + AggregateStore>(
    engine: &Engine<S>,
    store: &S,
    actor: &Actor,
    tenant_id: Uuid,
    spec: QuotaSpec,
) -> Result<Details> {
    validate(&spec)?;
    let now = engine.now();
    if store.zitadel_quota(tenant_id, spec.unit).await?.is_some() {
        return Err(Error::AlreadyExists {
            what: "quota",
            existing: Some(spec.unit.name().to_owned()),
        });
    }
    let record = QuotaRecord {
        tenant_id,
        unit: spec.unit,
        sequence: store.next_instance_sequence(tenant_id, now).await?,
        created_at: now,
        updated_at: now,
    };
    let rules = fresh_rules(&spec.notifications);
    let limit = limit_of(tenant_id, &spec, now, now);
    let audit = quota_change(actor, None, Some((&record, &limit)), now);
    write(
        engine,
        store,
        Row::PutZitadelQuota {
            record: &record,
            replace: false,
        },
        limit,
        &rules,
        &audit,
    )
    .await?;
    Ok(details(&record))
}

/// Writes a quota's row, its limit and the limit's notification rules in one transaction.
async fn write<S: EngineStore + AggregateStore>(
    engine: &Engine<S>,
    store: &S,
    row: Row<'_>,
    limit: Limit,
    rules: &[Notification],
    audit: &AuditRecord,
) -> Result<()> {
    let (tenant_id, metric, at) = (limit.tenant_id, limit.metric.clone(), limit.updated_at);
    let id = limit.id.clone();
    let write = AggregateWrite {
        limits: Some(OwnedLimits {
            tenant_id,
            owner: id.clone(),
            limits: vec![limit],
        }),
        rules: Some(Rules {
            tenant_id,
            limit_id: &id,
            rules,
            at,
        }),
        audit: Some(audit),
        ..AggregateWrite::of(row)
    };
    let written = store.write_aggregate(&write).await?;
    engine.limits_changed(tenant_id, [metric.as_str()]);
    match written {
        Written::Done => Ok(()),
        Written::Taken(id) => Err(Error::Conflict {
            message: format!("limit {id} is managed by the native API"),
            existing: Some(id),
        }),
        other => Err(Error::Internal(format!(
            "a ZITADEL quota write ended as {other:?}"
        ))),
    }
}

/// SetQuota: creates or updates the instance's quota for the unit. Nothing changed: nothing is
/// written and the current details are returned. Changed notifications are replaced as a whole,
/// with new ids; unchanged ones keep theirs (and what they already fired in this period).
pub async fn set_quota<S: EngineStore + InstanceStore + AggregateStore>(
    engine: &Engine<S>,
    store: &S,
    actor: &Actor,
    tenant_id: Uuid,
    spec: QuotaSpec,
) -> Result<Details> {
    validate(&spec)?;
    let limit_id = spec.unit.limit_id();
    let now = engine.now();
    let existing = store.zitadel_quota(tenant_id, spec.unit).await?;
    let current = match &existing {
        Some(_) => store.limit(tenant_id, &limit_id).await?,
        None => None,
    };
    let old_rules = match &current {
        Some(_) => engine.notification_rules(tenant_id, &limit_id).await?,
        None => Vec::new(),
    };
    let same_rules = sorted_specs(&old_rules) == sorted(&spec.notifications);
    if let (Some(record), Some(limit)) = (&existing, &current) {
        if same_rules && limit == &limit_of(tenant_id, &spec, limit.created_at, limit.updated_at) {
            return Ok(details(record));
        }
    }
    let rules = if same_rules && current.is_some() {
        old_rules
    } else {
        fresh_rules(&spec.notifications)
    };
    let created_at = current.as_ref().map_or(now, |l| l.created_at);
    let before = existing
        .as_ref()
        .map(|r| zitadel_quota_json(r, current.as_ref()));
    let sequence = store.next_instance_sequence(tenant_id, now).await?;
    let record = match existing {
        Some(record) => QuotaRecord {
            sequence,
            updated_at: now,
            ..record
        },
        None => QuotaRecord {
            tenant_id,
            unit: spec.unit,
            sequence,
            created_at: now,
            updated_at: now,
        },
    };
    let limit = limit_of(tenant_id, &spec, created_at, now);
    let mut audit = quota_change(actor, None, Some((&record, &limit)), now);
    if before.is_some() {
        audit = audit.restated(before, audit.after.clone());
    }
    let row = Row::PutZitadelQuota {
        record: &record,
        replace: true,
    };
    write(engine, store, row, limit, &rules, &audit).await?;
    Ok(details(&record))
}

/// RemoveQuota: deletes the quota with its usage and notification state; `NotFound` when the
/// instance has none for the unit. Notifications already due are still delivered.
pub async fn remove_quota<S: EngineStore + InstanceStore + AggregateStore>(
    engine: &Engine<S>,
    store: &S,
    actor: &Actor,
    tenant_id: Uuid,
    unit: Option<Unit>,
) -> Result<Details> {
    let unit = unit.ok_or(Error::NotFound("quota"))?;
    let record = store
        .zitadel_quota(tenant_id, unit)
        .await?
        .ok_or(Error::NotFound("quota"))?;
    let limit_id = unit.limit_id();
    let current = store.limit(tenant_id, &limit_id).await?;
    let audit = quota_change(actor, Some((&record, current.as_ref())), None, engine.now());
    let write = AggregateWrite {
        audit: Some(&audit),
        limits: Some(OwnedLimits {
            tenant_id,
            owner: limit_id,
            limits: Vec::new(),
        }),
        ..AggregateWrite::of(Row::DeleteZitadelQuota { tenant_id, unit })
    };
    let written = store.write_aggregate(&write).await?;
    engine.limits_changed(tenant_id, [unit.metric()]);
    if written != Written::Done {
        return Err(Error::NotFound("quota"));
    }
    let now = engine.now();
    Ok(Details {
        sequence: store.next_instance_sequence(record.tenant_id, now).await?,
        date: now,
        resource_owner: tenant_id,
    })
}

fn details(record: &QuotaRecord) -> Details {
    Details {
        sequence: record.sequence,
        date: record.updated_at,
        resource_owner: record.tenant_id,
    }
}

/// The engine limit behind a quota.
fn limit_of(
    tenant_id: Uuid,
    spec: &QuotaSpec,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Limit {
    let id = spec.unit.limit_id();
    Limit {
        owner: Some(id.clone()),
        per: Vec::new(),
        family: None,
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        id,
        tenant_id,
        selector: Subject::default(),
        metric: spec.unit.metric().to_owned(),
        amount: Amount::Limited(i64::try_from(spec.amount).unwrap_or(MAX_AMOUNT)),
        window: Window::Anchored {
            from: spec.from,
            interval: spec.reset_interval,
        },
        blocking: spec.limit,
        created_at,
        updated_at,
    }
}

fn fresh_rules(specs: &[NotificationSpec]) -> Vec<Notification> {
    specs
        .iter()
        .map(|n| {
            Notification::zitadel(
                Uuid::new_v4().simple().to_string(),
                n.percent,
                n.repeat,
                n.call_url.clone(),
            )
        })
        .collect()
}

fn sorted(specs: &[NotificationSpec]) -> Vec<NotificationSpec> {
    let mut specs = specs.to_vec();
    specs.sort();
    specs
}

fn sorted_specs(rules: &[Notification]) -> Vec<NotificationSpec> {
    let specs: Vec<NotificationSpec> = rules
        .iter()
        .filter_map(|r| {
            let (percent, call_url) = r.zitadel_parts()?;
            Some(NotificationSpec {
                percent,
                call_url: call_url.to_owned(),
                repeat: r.repeat,
            })
        })
        .collect();
    sorted(&specs)
}
