//! Each code's default limit in each tenant: one limit split `per` the scope's references, made
//! with the tenant (and in every tenant when an operator defines a code), so a reference counts
//! on its own partition of the default from its first use with nothing written for it, and a
//! changed default applies at once to every reference without a limit of its own.
//!
//! Start-up brings every tenant's defaults to the shape and amount this version writes, and
//! moves what earlier versions wrote (a limit per scope reference, made on first use): one at
//! the default and never adjusted goes, its count carried to the reference's partition; one
//! adjusted stays as the reference's own limit, in the code's family.

use uuid::Uuid;

use super::enforce::live_count;
use super::{
    KAFKA_CLIENT_QUOTAS, QuotaCode, Scope, ScopeRef, ServiceQuotas, default_limit, own_limit,
    owner_of, partition,
};
use crate::domain::aggregate::{AggregateStore, AggregateWrite, Carry, Row, Written};
use crate::domain::audit::Actor;
use crate::domain::limit::{Limit, Subject};
use crate::domain::ports::*;
use crate::domain::usage::Usage;
use crate::domain::usage::batch::{CounterKey, NEVER};
use crate::domain::{Error, Result};

impl<S: EngineStore + AggregateStore> ServiceQuotas<'_, S> {
    /// Makes `tenant_id`'s default limit of every code exist, as [`Self::ensure_default`] does.
    pub async fn ensure_defaults(&self, actor: &Actor, tenant_id: Uuid) -> Result<()> {
        for code in self.catalogue().await? {
            self.ensure_default(actor, tenant_id, &code, None).await?;
        }
        Ok(())
    }

    /// Makes `code`'s default limit in `tenant_id` exist in the shape this version writes. Its
    /// amount is the code's default, but for an organization-wide code (whose default is its
    /// only limit) adjusted since it was at `earlier` (the code's default before a change; with
    /// none, whatever it stands at is kept). A default made now for quotaplane's own resources
    /// counts those that already exist.
    pub(super) async fn ensure_default(
        &self,
        actor: &Actor,
        tenant_id: Uuid,
        code: &QuotaCode,
        earlier: Option<i64>,
    ) -> Result<()> {
        let now = self.engine.now();
        let id = default_limit(code, tenant_id, 0, now).id;
        let stored = self.store.limit(tenant_id, &id).await?;
        let amount = match &stored {
            Some(limit) if code.scope == Scope::Organization => {
                let kept = super::service::amount_of(limit.amount, code);
                let organization = ScopeRef::organization();
                let followed = earlier == Some(kept)
                    && !self
                        .adjusted(tenant_id, code)
                        .await?
                        .contains(&organization);
                if followed { code.default_limit } else { kept }
            }
            _ => code.default_limit,
        };
        let mut wanted = default_limit(code, tenant_id, amount, now);
        if let Some(stored) = &stored {
            if stored.same_terms(&wanted) && stored.owner == wanted.owner {
                return Ok(());
            }
            wanted.created_at = stored.created_at;
        }
        self.engine.put_limit(&wanted, actor).await?;
        if stored.is_none() {
            self.count_existing(tenant_id, code).await?;
        }
        Ok(())
    }

    /// The references at which `code`'s applied limit was ever adjusted in `tenant_id`.
    async fn adjusted(&self, tenant_id: Uuid, code: &QuotaCode) -> Result<Vec<ScopeRef>> {
        let records = self
            .store
            .service_quota_adjustments(tenant_id, &code.code)
            .await?;
        Ok(records
            .into_iter()
            .map(|r| ScopeRef::from_map(r.reference))
            .collect())
    }

    /// Counts quotaplane's own resources that exist before their code's default does (made
    /// before quotaplane counted them): the organization-wide ones, by the live count.
    async fn count_existing(&self, tenant_id: Uuid, code: &QuotaCode) -> Result<()> {
        if !code.builtin || code.code == KAFKA_CLIENT_QUOTAS {
            // Client quotas took their unit through a limit per cluster since quotaplane
            // counted them: start-up carries those counts (see `move_earlier`).
            return Ok(());
        }
        let reference = ScopeRef::organization();
        let count = live_count(self.store, tenant_id, &code.code, &reference).await?;
        if let Some(count) = count.filter(|n| *n > 0) {
            let usage = Usage {
                subject: Subject::default(),
                metric: code.code.clone(),
                amount: count,
            };
            self.engine.report(tenant_id, &usage, None).await?;
        }
        Ok(())
    }

    /// At start-up: every tenant's defaults, and the limits per scope reference that earlier
    /// versions wrote moved to them. One tenant's failure is logged and never stops the others
    /// (nor the server's start). Returns how many earlier limits were moved.
    pub async fn apply_defaults(&self) -> Result<usize> {
        let actor = Actor::start_up();
        let codes = self.catalogue().await?;
        let mut moved = 0;
        for tenant in self.store.tenants().await? {
            for code in &codes {
                let done = match self.ensure_default(&actor, tenant.id, code, None).await {
                    Ok(()) => self.move_earlier(tenant.id, code).await,
                    Err(e) => Err(e),
                };
                match done {
                    Ok(n) => moved += n,
                    Err(e) => tracing::warn!(tenant = %tenant.id, code = %code.code, error = %e,
                        "could not bring this tenant's applied quota limits to the code's default"),
                }
            }
        }
        Ok(moved)
    }

    /// Moves `code`'s limits per scope reference written before defaults were limits (no
    /// family): unadjusted ones go, their count carried to the reference's partition of the
    /// default; adjusted ones stay as the reference's own limit. Each move is one write, and
    /// running it again after a crash finds only what is left.
    async fn move_earlier(&self, tenant_id: Uuid, code: &QuotaCode) -> Result<usize> {
        if code.scope == Scope::Organization {
            return Ok(0);
        }
        let owner = owner_of(&code.code);
        let now = self.engine.now();
        let default_id = default_limit(code, tenant_id, 0, now).id;
        let earlier: Vec<Limit> = self
            .store
            .limits_of_metric(tenant_id, &code.code)
            .await?
            .into_iter()
            .filter(|l| l.family.is_none() && l.owner.as_deref() == Some(owner.as_str()))
            .filter(|l| l.id != default_id)
            .collect();
        let adjusted = if earlier.is_empty() {
            Vec::new()
        } else {
            self.adjusted(tenant_id, code).await?
        };
        for limit in &earlier {
            let reference = ScopeRef::from_selector(&limit.selector);
            let amount = super::service::amount_of(limit.amount, code);
            let kept = amount != code.default_limit || adjusted.contains(&reference);
            let own = Limit {
                created_at: limit.created_at,
                ..own_limit(code, tenant_id, &reference, amount, now)
            };
            let carry = Carry {
                from: counter(tenant_id, &limit.id, String::new()),
                to: counter(tenant_id, &default_id, partition(code, &reference)),
                period_end: NEVER,
                at_ms: now.timestamp_millis(),
            };
            let (carries, row) = if kept {
                let row = Row::AdjustAppliedQuota {
                    limit: &own,
                    audit: None,
                    default_id: Some(&default_id),
                };
                (Vec::new(), row)
            } else {
                let row = Row::RetireLimit {
                    tenant_id,
                    id: &limit.id,
                };
                (vec![carry], row)
            };
            let write = AggregateWrite {
                carries,
                ..AggregateWrite::of(row)
            };
            match self.store.write_aggregate(&write).await? {
                Written::Done | Written::Missing => {}
                other => {
                    return Err(Error::Internal(format!(
                        "moving {} ended as {other:?}",
                        limit.id
                    )));
                }
            }
        }
        if !earlier.is_empty() {
            self.engine.limits_changed(tenant_id, [code.code.as_str()]);
        }
        Ok(earlier.len())
    }
}

/// The one counter of a `window: none` limit (or of one of its partitions).
pub(super) fn counter(tenant_id: Uuid, limit_id: &str, per_value: String) -> CounterKey {
    CounterKey {
        tenant_id,
        limit_id: limit_id.to_owned(),
        per_value,
        period_start: 0,
    }
}
