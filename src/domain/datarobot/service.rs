//! The services behind `/api/v2/quotas/`, `/api/v2/quotaTemplates/` and `/v1/quota-templates`:
//! who may do what, one quota per resource, templates, a quota's engine limits in step with it.

use crate::domain::bounds::check_quota_size;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::limits::{limits_of, metric, owner};
use super::{
    Capacity, Page, Policy, Quota, QuotaFilter, RESOURCE_DEPLOYMENT, Rule, RuleKind, Template,
    new_id,
};
use crate::domain::access::SYSTEM_TENANT;
use crate::domain::aggregate::{
    AggregateStore, AggregateWrite, OwnedLimits, Row, UnitChange, Written,
};
use crate::domain::audit::{
    Actor, datarobot_quota_change as quota_change, datarobot_template_change as template_change,
};
use crate::domain::ports::*;
use crate::domain::principal::{Caller, Role};
use crate::domain::service_quota::{self, ScopeRef};
use crate::domain::usage::Engine;
use crate::domain::{Error, Result};

/// What a client asks for when creating a quota.
#[derive(Debug, Clone)]
pub struct NewQuota {
    pub resource_type: String,
    pub resource_id: String,
    pub default_rules: Option<Vec<Rule>>,
    /// An extension: take the default rules from this template.
    pub template_id: Option<String>,
    pub policies: Vec<Policy>,
    pub capacity: Option<Capacity>,
    pub saturation_threshold: Option<f64>,
}

/// What a PATCH changes: a field present replaces the old value.
#[derive(Debug, Clone, Default)]
pub struct QuotaChanges {
    pub default_rules: Option<Vec<Rule>>,
    pub policies: Option<Vec<Policy>>,
    pub capacity: Option<Option<Capacity>>,
    pub saturation_threshold: Option<Option<f64>>,
}

/// The principal a caller writes as `userId`.
fn principal(caller: &Caller) -> String {
    caller
        .user_id
        .map_or_else(|| caller.key_id.clone(), |u| u.simple().to_string())
}

/// Creates a quota (admins): at most one per resource in a tenant.
pub async fn create_quota<S: EngineStore + AggregateStore>(
    store: &S,
    engine: &Engine<S>,
    caller: &Caller,
    actor: &Actor,
    new: NewQuota,
    now: DateTime<Utc>,
) -> Result<Quota> {
    caller.require_any(&[Role::Admin])?;
    let default_rules = match (new.default_rules, &new.template_id) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_body(
                "/templateId",
                "give either defaultRules or templateId, not both",
            ));
        }
        (Some(rules), None) => rules,
        (None, Some(id)) => {
            template(store, caller, id)
                .await
                .map_err(|_| Error::invalid_body("/templateId", "no quota template has this id"))?
                .rules
        }
        (None, None) => {
            return Err(Error::invalid_body(
                "/defaultRules",
                "is required (or templateId)",
            ));
        }
    };
    let quota = Quota {
        id: new_id(),
        tenant_id: caller.tenant_id,
        resource_type: new.resource_type,
        resource_id: new.resource_id,
        user_id: principal(caller),
        default_rules,
        policies: new.policies,
        capacity: new.capacity,
        saturation_threshold: new.saturation_threshold,
        created_at: now,
        updated_at: now,
    };
    quota.validate()?;
    if let Some(existing) = existing_for(store, &quota).await? {
        return Err(existing);
    }
    let owned = owned_limits(&quota, now);
    check_quota_size(owned.limits.len(), "/policies")?;
    engine
        .ensure_room(quota.tenant_id, &owned.limits, &[])
        .await?;
    let code = service_quota::own(service_quota::DATAROBOT_QUOTAS)?;
    let unit = service_quota::unit(engine, quota.tenant_id, &code, &ScopeRef::organization());
    let audit = quota_change(actor, None, Some(&quota), now);
    let write = AggregateWrite {
        limits: Some(owned),
        unit: Some(UnitChange::Take(unit)),
        audit: Some(&audit),
        ..AggregateWrite::of(Row::InsertDataRobotQuota(&quota))
    };
    match store.write_aggregate(&write).await {
        Err(Error::AlreadyExists { .. }) => {
            return Err(existing_for(store, &quota)
                .await?
                .unwrap_or(Error::Conflict {
                    message: "a quota for this resource already exists".into(),
                    existing: None,
                }));
        }
        Ok(Written::NoRoom) => return Err(service_quota::no_room(&code)),
        written => settled(written?)?,
    }
    engine.limits_changed(quota.tenant_id, metrics());
    Ok(quota)
}

/// The limits `quota` owns, as an aggregate write replaces them.
fn owned_limits(quota: &Quota, now: DateTime<Utc>) -> OwnedLimits {
    OwnedLimits {
        tenant_id: quota.tenant_id,
        owner: owner(&quota.id),
        limits: limits_of(quota, now),
    }
}

/// Every metric DataRobot quotas' limits use (their cached limits are stale after a write).
fn metrics() -> Vec<&'static str> {
    [
        RuleKind::Requests,
        RuleKind::Token,
        RuleKind::ConcurrentRequests,
        RuleKind::InputSequenceLength,
    ]
    .into_iter()
    .map(metric)
    .collect()
}

/// What an aggregate write that did not commit means to the caller.
fn settled(written: Written) -> Result<()> {
    match written {
        Written::Done => Ok(()),
        Written::Missing => Err(Error::NotFound("quota")),
        Written::Taken(id) => Err(Error::Conflict {
            message: format!("limit {id} is managed by another resource"),
            existing: None,
        }),
        other => Err(Error::Internal(format!(
            "a DataRobot quota write ended as {other:?}"
        ))),
    }
}

/// The 409 naming the quota that already governs `quota`'s resource, if one does.
async fn existing_for(store: &impl Store, quota: &Quota) -> Result<Option<Error>> {
    let found = store
        .datarobot_quota_for(quota.tenant_id, &quota.resource_type, &quota.resource_id)
        .await?;
    Ok(found.map(|existing| Error::Conflict {
        message: format!(
            "a quota for {} {} already exists: {}",
            existing.resource_type, existing.resource_id, existing.id
        ),
        existing: Some(existing.id),
    }))
}

/// One quota of the caller's tenant.
pub async fn quota(store: &impl Store, caller: &Caller, id: &str) -> Result<Quota> {
    store
        .datarobot_quota(caller.tenant_id, id)
        .await?
        .ok_or(Error::NotFound("quota"))
}

/// A page of the caller's tenant's quotas, with how many match in all.
pub async fn list_quotas(
    store: &impl Store,
    caller: &Caller,
    filter: &QuotaFilter,
    page: Page,
) -> Result<(Vec<Quota>, i64)> {
    store.datarobot_quotas(caller.tenant_id, filter, page).await
}

/// Changes a quota (admins); its resource never changes.
pub async fn update_quota<S: EngineStore + AggregateStore>(
    store: &S,
    engine: &Engine<S>,
    caller: &Caller,
    actor: &Actor,
    id: &str,
    changes: QuotaChanges,
    now: DateTime<Utc>,
) -> Result<Quota> {
    caller.require_any(&[Role::Admin])?;
    let mut quota = quota(store, caller, id).await?;
    let old = quota.clone();
    let before = limits_of(&quota, now);
    if let Some(rules) = changes.default_rules {
        quota.default_rules = rules;
    }
    if let Some(policies) = changes.policies {
        quota.policies = policies;
    }
    if let Some(capacity) = changes.capacity {
        quota.capacity = capacity;
    }
    if let Some(threshold) = changes.saturation_threshold {
        quota.saturation_threshold = threshold;
    }
    quota.updated_at = now;
    quota.validate()?;
    let owned = owned_limits(&quota, now);
    check_quota_size(owned.limits.len(), "/policies")?;
    engine
        .ensure_room(quota.tenant_id, &owned.limits, &before)
        .await?;
    let audit = quota_change(actor, Some(&old), Some(&quota), now);
    let write = AggregateWrite {
        limits: Some(owned),
        audit: Some(&audit),
        ..AggregateWrite::of(Row::UpdateDataRobotQuota(&quota))
    };
    settled(store.write_aggregate(&write).await?)?;
    engine.limits_changed(quota.tenant_id, metrics());
    Ok(quota)
}

/// Deletes a quota and its limits (admins).
pub async fn delete_quota<S: EngineStore + AggregateStore>(
    store: &S,
    engine: &Engine<S>,
    caller: &Caller,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    caller.require_any(&[Role::Admin])?;
    let quota = quota(store, caller, id).await?;
    let code = service_quota::own(service_quota::DATAROBOT_QUOTAS)?;
    let unit = service_quota::unit(engine, caller.tenant_id, &code, &ScopeRef::organization());
    let audit = quota_change(actor, Some(&quota), None, now);
    let write = AggregateWrite {
        limits: Some(OwnedLimits {
            limits: Vec::new(),
            ..owned_limits(&quota, now)
        }),
        unit: Some(UnitChange::GiveBack(unit)),
        audit: Some(&audit),
        ..AggregateWrite::of(Row::DeleteDataRobotQuota {
            tenant_id: caller.tenant_id,
            id,
        })
    };
    settled(store.write_aggregate(&write).await?)?;
    engine.limits_changed(quota.tenant_id, metrics());
    Ok(())
}

/// The tenants whose templates `caller` sees: its own, and the installation-wide ones of the
/// system tenant.
async fn template_tenants(store: &impl Store, caller: &Caller) -> Result<[Uuid; 2]> {
    let system = store
        .tenant_named(SYSTEM_TENANT)
        .await?
        .map_or(caller.tenant_id, |t| t.id);
    Ok([caller.tenant_id, system])
}

/// One template the caller sees.
pub async fn template(store: &impl Store, caller: &Caller, id: &str) -> Result<Template> {
    for tenant in template_tenants(store, caller).await? {
        if let Some(template) = store.datarobot_template(tenant, id).await? {
            return Ok(template);
        }
    }
    Err(Error::NotFound("quota template"))
}

/// A page of the templates the caller sees, with how many there are in all.
pub async fn list_templates(
    store: &impl Store,
    caller: &Caller,
    page: Page,
) -> Result<(Vec<Template>, i64)> {
    let tenants = template_tenants(store, caller).await?;
    store.datarobot_templates(tenants, page).await
}

/// Creates a template in the caller's tenant (admins; a system key's are seen by every tenant).
pub async fn create_template(
    store: &impl Store,
    caller: &Caller,
    actor: &Actor,
    name: String,
    rules: Vec<Rule>,
    now: DateTime<Utc>,
) -> Result<Template> {
    caller.require_any(&[Role::Admin])?;
    let template = Template {
        id: new_id(),
        tenant_id: caller.tenant_id,
        name,
        rules,
        created_at: now,
        updated_at: now,
    };
    template.validate()?;
    let audit = template_change(actor, None, Some(&template), now);
    store.put_datarobot_template(&template, &audit).await?;
    Ok(template)
}

/// Replaces a template's name and rules (admins of the tenant that holds it). Quotas made from
/// it keep the rules they copied.
pub async fn replace_template(
    store: &impl Store,
    caller: &Caller,
    actor: &Actor,
    id: &str,
    name: String,
    rules: Vec<Rule>,
    now: DateTime<Utc>,
) -> Result<Template> {
    caller.require_any(&[Role::Admin])?;
    let old = store
        .datarobot_template(caller.tenant_id, id)
        .await?
        .ok_or(Error::NotFound("quota template"))?;
    let template = Template {
        name,
        rules,
        updated_at: now,
        ..old.clone()
    };
    template.validate()?;
    let audit = template_change(actor, Some(&old), Some(&template), now);
    store.put_datarobot_template(&template, &audit).await?;
    Ok(template)
}

/// Deletes a template (admins of the tenant that holds it).
pub async fn delete_template(
    store: &impl Store,
    caller: &Caller,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    caller.require_any(&[Role::Admin])?;
    let Some(old) = store.datarobot_template(caller.tenant_id, id).await? else {
        return Err(Error::NotFound("quota template"));
    };
    let audit = template_change(actor, Some(&old), None, now);
    if store
        .delete_datarobot_template(caller.tenant_id, id, &audit)
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("quota template"))
    }
}

/// Whether a quota governs a deployment (the only resource type there is).
pub async fn quota_of_deployment(
    store: &impl Store,
    tenant_id: Uuid,
    deployment: &str,
) -> Result<Option<Quota>> {
    store
        .datarobot_quota_for(tenant_id, RESOURCE_DEPLOYMENT, deployment)
        .await
}
