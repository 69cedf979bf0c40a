//! ZITADEL instances as the system API shows them: a tenant is an instance; its limits
//! (`SetLimits`, `BulkSetLimits`, `ResetLimits`: `block` and `auditLogRetention`) and the
//! instance's event sequence, which every change of its quotas and limits moves forward (so
//! `details.sequence` never goes back, even when a quota is removed and made again).
//!
//! The rules are ZITADEL's command rules (`internal/command/instance_limits.go`); the wire format
//! lives in `crate::api::zitadel`. Whether a tenant is blocked is decided by [`InstanceBlocks`];
//! how a refusal is written is each surface's business.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::audit::{Actor, AuditRecord, zitadel_limits_change};
use super::principal::Caller;
use super::tenant::Tenant;
use super::zitadel::Details;
use super::{Error, Result};
use crate::domain::ports::*;

/// Domain messages the ZITADEL envelope translates to ZITADEL's ids and texts.
pub mod messages {
    pub const NONE_SPECIFIED: &str = "no limits are specified";
    pub const NEGATIVE_RETENTION: &str = "the audit log retention must not be negative";
}

/// What the ZITADEL surface answers a tenant's request with while its instance is blocked.
pub const BLOCKED: &str = "the instance is blocked";

/// An instance's limits as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLimits {
    pub tenant_id: Uuid,
    /// True: every authenticated request of the tenant is refused (as past a request quota).
    pub block: Option<bool>,
    /// How old events may be to be read through ZITADEL's events API; stored and returned.
    pub audit_log_retention: Option<TimeDelta>,
    /// The instance sequence of the last change.
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What SetLimits asks for (after proto-level validation): absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsChange {
    pub audit_log_retention: Option<TimeDelta>,
    pub block: Option<bool>,
}

/// The port to storage this module needs.
pub trait InstanceStore: Send + Sync {
    /// Moves the instance's event sequence forward by one and returns the new value.
    fn next_instance_sequence(
        &self,
        tenant_id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// The instance's current sequence (0 before its first change).
    fn instance_sequence(&self, tenant_id: Uuid) -> impl Future<Output = Result<i64>> + Send;
    /// The instance's limits, if any were set.
    fn instance_limits(
        &self,
        tenant_id: Uuid,
    ) -> impl Future<Output = Result<Option<InstanceLimits>>> + Send;
    /// Creates or replaces the instance's limits, with the audit record of the change.
    fn put_instance_limits(
        &self,
        limits: &InstanceLimits,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes the instance's limits, with the audit record of the removal; false when there
    /// were none (and nothing is recorded).
    fn delete_instance_limits(
        &self,
        tenant_id: Uuid,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Every tenant whose instance is blocked.
    fn blocked_instances(&self) -> impl Future<Output = Result<Vec<Uuid>>> + Send;
}

/// Checks what SetLimits asks for (ZITADEL: at least one limit given).
pub fn validate(change: &LimitsChange) -> Result<()> {
    if change.audit_log_retention.is_none() && change.block.is_none() {
        return Err(Error::invalid_body("/", messages::NONE_SPECIFIED));
    }
    if change
        .audit_log_retention
        .is_some_and(|r| r < TimeDelta::zero())
    {
        return Err(Error::invalid_body(
            "/auditLogRetention",
            messages::NEGATIVE_RETENTION,
        ));
    }
    Ok(())
}

/// SetLimits: sets the given limits of the instance, keeping the others. Nothing changed:
/// nothing is written and the current details come back.
pub async fn set_limits<S: Store + InstanceStore>(
    store: &S,
    actor: &Actor,
    blocks: &InstanceBlocks,
    tenant_id: Uuid,
    change: &LimitsChange,
    now: DateTime<Utc>,
) -> Result<Details> {
    validate(change)?;
    let current = store.instance_limits(tenant_id).await?;
    let before = current.clone();
    if let Some(current) = &current {
        let unchanged = change.block.is_none_or(|b| current.block == Some(b))
            && change
                .audit_log_retention
                .is_none_or(|r| current.audit_log_retention == Some(r));
        if unchanged {
            return Ok(details_of(current));
        }
    }
    let sequence = store.next_instance_sequence(tenant_id, now).await?;
    let limits = match current {
        Some(current) => InstanceLimits {
            block: change.block.or(current.block),
            audit_log_retention: change.audit_log_retention.or(current.audit_log_retention),
            sequence,
            updated_at: now,
            ..current
        },
        None => InstanceLimits {
            tenant_id,
            block: change.block,
            audit_log_retention: change.audit_log_retention,
            sequence,
            created_at: now,
            updated_at: now,
        },
    };
    let audit = zitadel_limits_change(actor, before.as_ref(), Some(&limits), now);
    store.put_instance_limits(&limits, &audit).await?;
    blocks.set(tenant_id, limits.block == Some(true));
    Ok(details_of(&limits))
}

/// ResetLimits: removes every limit of the instance (it is no longer blocked); `NotFound` when
/// it has none.
pub async fn reset_limits<S: Store + InstanceStore>(
    store: &S,
    actor: &Actor,
    blocks: &InstanceBlocks,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Details> {
    let Some(before) = store.instance_limits(tenant_id).await? else {
        return Err(Error::NotFound("limits"));
    };
    let audit = zitadel_limits_change(actor, Some(&before), None, now);
    if !store.delete_instance_limits(tenant_id, &audit).await? {
        return Err(Error::NotFound("limits"));
    }
    blocks.set(tenant_id, false);
    let sequence = store.next_instance_sequence(tenant_id, now).await?;
    Ok(Details {
        sequence,
        date: now,
        resource_owner: tenant_id,
    })
}

fn details_of(limits: &InstanceLimits) -> Details {
    Details {
        sequence: limits.sequence,
        date: limits.updated_at,
        resource_owner: limits.tenant_id,
    }
}

/// An instance as GetInstance and ListInstances show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub tenant: Tenant,
    /// Its limits, if any are set (quotaplane shows them; ZITADEL's system API has no read).
    pub limits: Option<InstanceLimits>,
    pub sequence: i64,
    /// The date of the last change of its quotas or limits (its creation before any).
    pub changed_at: DateTime<Utc>,
}

/// GetInstance: the tenant an `instanceId` names, as an instance, for a system caller.
pub async fn get_instance<S: Store + InstanceStore>(
    store: &S,
    caller: &Caller,
    instance_id: &str,
) -> Result<Instance> {
    let tenant_id = super::zitadel::instance(store, caller, instance_id).await?;
    let tenant = store
        .tenant(tenant_id)
        .await?
        .ok_or(Error::NotFound("instance"))?;
    as_instance(store, tenant).await
}

async fn as_instance<S: Store + InstanceStore>(store: &S, tenant: Tenant) -> Result<Instance> {
    let sequence = store.instance_sequence(tenant.id).await?;
    let limits = store.instance_limits(tenant.id).await?;
    let changed_at = limits
        .as_ref()
        .map_or(tenant.created_at, |l| l.updated_at.max(tenant.created_at));
    Ok(Instance {
        tenant,
        limits,
        sequence,
        changed_at,
    })
}

/// Which instances ListInstances asks for, and which page (ZITADEL's `ListQuery`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    /// Only these ids (ZITADEL's `idQuery`); none: every instance.
    pub ids: Option<Vec<String>>,
    /// Only instances with one of these names, as quotaplane has no domains; none: every.
    pub domains: Option<Vec<String>>,
    pub offset: u64,
    /// 0: ZITADEL's default page size.
    pub limit: u32,
    pub asc: bool,
    pub sort: SortBy,
}

/// ZITADEL's `FieldName` of an instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Unspecified: by creation date.
    #[default]
    Unspecified,
    Id,
    Name,
    CreationDate,
}

/// One page of instances and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePage {
    pub total: u64,
    pub instances: Vec<Instance>,
}

/// ZITADEL's page size when the query gives none, and its largest.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
pub const MAX_LIST_LIMIT: u32 = 1000;

/// ListInstances: the tenants as instances, filtered, sorted and paged as ZITADEL pages
/// (offset and limit; ascending only when asked).
pub async fn list_instances<S: Store + InstanceStore>(
    store: &S,
    caller: &Caller,
    query: &InstanceQuery,
) -> Result<InstancePage> {
    caller.require_system()?;
    let mut tenants: Vec<Tenant> = store
        .tenants()
        .await?
        .into_iter()
        .filter(|t| {
            query
                .ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|id| *id == t.id.to_string()))
        })
        .filter(|t| {
            query
                .domains
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == t.name.as_str()))
        })
        .collect();
    tenants.sort_by(|a, b| {
        let order = match query.sort {
            SortBy::Id => a.id.to_string().cmp(&b.id.to_string()),
            SortBy::Name => a.name.as_str().cmp(b.name.as_str()),
            SortBy::CreationDate | SortBy::Unspecified => a.created_at.cmp(&b.created_at),
        };
        order.then_with(|| a.id.cmp(&b.id))
    });
    if !query.asc {
        tenants.reverse();
    }
    let total = tenants.len() as u64;
    let limit = match query.limit {
        0 => DEFAULT_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    };
    let mut instances = Vec::new();
    for tenant in tenants
        .into_iter()
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .take(limit as usize)
    {
        instances.push(as_instance(store, tenant).await?);
    }
    Ok(InstancePage { total, instances })
}

/// The tenants whose instance is blocked, held in memory so that the check on every request
/// costs no I/O. Changes made on this server apply at once; [`InstanceBlocks::keep_loaded`]
/// picks up those of other replicas within its period.
#[derive(Debug, Default)]
pub struct InstanceBlocks {
    blocked: RwLock<HashSet<Uuid>>,
    /// Moved by every change made here, so a reload that read the store before the change does
    /// not undo it.
    changes: AtomicU64,
}

impl InstanceBlocks {
    /// Whether the tenant's requests are to be refused.
    pub fn is_blocked(&self, tenant_id: Uuid) -> bool {
        self.blocked
            .read()
            .map(|b| !b.is_empty() && b.contains(&tenant_id))
            .unwrap_or(false)
    }

    /// Records a change made here.
    pub fn set(&self, tenant_id: Uuid, blocked: bool) {
        if let Ok(mut set) = self.blocked.write() {
            self.changes.fetch_add(1, Ordering::SeqCst);
            if blocked {
                set.insert(tenant_id);
            } else {
                set.remove(&tenant_id);
            }
        }
    }

    /// Reads the blocked instances from the store.
    pub async fn load<S: InstanceStore>(&self, store: &S) -> Result<()> {
        let before = self.changes.load(Ordering::SeqCst);
        let blocked: HashSet<Uuid> = store.blocked_instances().await?.into_iter().collect();
        if let Ok(mut set) = self.blocked.write() {
            // A change made here meanwhile is newer than what was read; the next reload has it.
            if self.changes.load(Ordering::SeqCst) == before {
                *set = blocked;
            }
        }
        Ok(())
    }

    /// Reloads from the store every `period` in a background task (other replicas' changes).
    pub fn keep_loaded<S: InstanceStore + Clone + 'static>(
        this: &Arc<Self>,
        store: S,
        period: Duration,
    ) {
        let blocks = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                let Some(blocks) = blocks.upgrade() else {
                    return;
                };
                if let Err(e) = blocks.load(&store).await {
                    tracing::warn!(error = %e, "could not read blocked instances");
                }
            }
        });
    }
}

#[cfg(test)]
#[path = "zitadel_instance_tests.rs"]
mod tests;
