//! The engine's limits: written, ensured, deleted and listed with where they stand, within the
//! tenant's bounds and only by their owner.

use uuid::Uuid;

use super::batch::CounterKey;
use super::{Engine, LimitStatus, status_of};
use crate::domain::audit::{Actor, limit_change};
use crate::domain::limit::Limit;
use crate::domain::notification::Notification;
use crate::domain::page::{PageRequest, Paged};
use crate::domain::ports::*;
use crate::domain::{Error, Result};

impl<S: EngineStore> Engine<S> {
    /// Refuses a write that would create limits past the tenant's bounds: `new` are the limits
    /// it writes, `old` those it replaces (an update that adds none always passes).
    pub async fn ensure_room(&self, tenant_id: Uuid, new: &[Limit], old: &[Limit]) -> Result<()> {
        let adding = |of: Option<&str>| {
            let count = |ls: &[Limit]| {
                let n = ls
                    .iter()
                    .filter(|l| of.is_none_or(|m| l.metric == m))
                    .count();
                i64::try_from(n).unwrap_or(i64::MAX)
            };
            count(new) - count(old)
        };
        if adding(None) <= 0 && new.iter().all(|l| adding(Some(&l.metric)) <= 0) {
            return Ok(());
        }
        let held = self.store.count_limits(tenant_id).await?;
        let mut metrics: Vec<&str> = new.iter().map(|l| l.metric.as_str()).collect();
        metrics.sort_unstable();
        metrics.dedup();
        for metric in metrics {
            let (of_metric, _) = self.store.limits_fingerprint(tenant_id, metric).await?;
            self.bounds
                .admit(held, of_metric, adding(Some(metric)).max(0))?;
        }
        self.bounds.admit(held, 0, adding(None))
    }

    /// Forgets the cached limits of `metrics`: an aggregate write changed them in the store.
    pub fn limits_changed<'m>(&self, tenant_id: Uuid, metrics: impl IntoIterator<Item = &'m str>) {
        for metric in metrics {
            self.limits.invalidate(tenant_id, metric);
        }
    }

    /// Creates or replaces a limit, audited as `actor`'s change; true when it was created. A
    /// limit is only ever changed by its owner: a surface's limits are not the native API's to
    /// replace, and the reverse.
    pub async fn put_limit(&self, limit: &Limit, actor: &Actor) -> Result<bool> {
        let existing = self
            .check_owner(limit.tenant_id, &limit.id, limit.owner.as_deref())
            .await?;
        let old: Vec<Limit> = existing.iter().cloned().collect();
        self.ensure_room(limit.tenant_id, std::slice::from_ref(limit), &old)
            .await?;
        self.refuse_ties(limit).await?;
        let audit = limit_change(actor, existing.as_ref(), Some(limit), self.clock.now());
        let created = self.store.put_limit(limit, &audit).await;
        self.forget(limit, existing.as_ref());
        created
    }

    /// Refuses `limit` when it would tie with another of its family: as specific, with another
    /// selector that one subject could match at once (see [`crate::domain::precedence`]).
    async fn refuse_ties(&self, limit: &Limit) -> Result<()> {
        if limit.family.is_none() {
            return Ok(());
        }
        let others = self
            .store
            .limits_of_metric(limit.tenant_id, &limit.metric)
            .await?;
        match crate::domain::precedence::tie(limit, &others, self.clock.now()) {
            Some(other) => Err(Error::Conflict {
                message: format!(
                    "limit {} of family {} has a selector with as many pairs that one subject \
                     could match together with this one's: make one more specific",
                    other.id,
                    limit.family.as_deref().unwrap_or_default()
                ),
                existing: Some(other.id.clone()),
            }),
            None => Ok(()),
        }
    }

    /// Invalidates the cached limits of `limit`'s metric, and of the metric it had before.
    fn forget(&self, limit: &Limit, before: Option<&Limit>) {
        self.limits.invalidate(limit.tenant_id, &limit.metric);
        if let Some(before) = before.filter(|b| b.metric != limit.metric) {
            self.limits.invalidate(before.tenant_id, &before.metric);
        }
    }

    /// A limit's notification rules, in the order they were given.
    pub async fn notification_rules(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
    ) -> Result<Vec<Notification>> {
        Ok(self
            .store
            .notification_rules(tenant_id)
            .await?
            .into_iter()
            .filter(|(id, _)| id == limit_id)
            .map(|(_, rule)| rule)
            .collect())
    }

    /// Deletes a limit and its counters (only its owner may), audited as `actor`'s change.
    pub async fn delete_limit(
        &self,
        tenant_id: Uuid,
        id: &str,
        owner: Option<&str>,
        actor: &Actor,
    ) -> Result<()> {
        let existing = self.check_owner(tenant_id, id, owner).await?;
        let Some(before) = &existing else {
            return Err(Error::NotFound("limit"));
        };
        let audit = limit_change(actor, Some(before), None, self.clock.now());
        let deleted = self.store.delete_limit(tenant_id, id, &audit).await?;
        if let Some(existing) = &existing {
            self.limits.invalidate(tenant_id, &existing.metric);
        }
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound("limit"))
        }
    }

    /// Deletes a limit and its counters whatever its owner: an operator's repair of a tenant.
    pub async fn remove_limit(&self, tenant_id: Uuid, id: &str, actor: &Actor) -> Result<()> {
        let existing = self
            .store
            .limit(tenant_id, id)
            .await?
            .ok_or(Error::NotFound("limit"))?;
        self.delete_limit(tenant_id, id, existing.owner.as_deref(), actor)
            .await
    }

    /// A tenant's limits (optionally one), each with where it stands now.
    pub async fn limits(
        &self,
        tenant_id: Uuid,
        only: Option<&str>,
    ) -> Result<Vec<(Limit, LimitStatus)>> {
        let limits = match only {
            Some(id) => vec![
                self.store
                    .limit(tenant_id, id)
                    .await?
                    .ok_or(Error::NotFound("limit"))?,
            ],
            None => self.store.limits(tenant_id).await?,
        };
        self.with_status(tenant_id, limits).await
    }

    /// A page of a tenant's limits in id order, each with where it stands now.
    pub async fn limits_page(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Paged<(Limit, LimitStatus)>> {
        let found = self.store.limits_page(tenant_id, page).await?;
        Ok(Paged {
            items: self.with_status(tenant_id, found.items).await?,
            next: found.next,
        })
    }

    /// Each of a tenant's `limits` with where it stands now.
    async fn with_status(
        &self,
        tenant_id: Uuid,
        limits: Vec<Limit>,
    ) -> Result<Vec<(Limit, LimitStatus)>> {
        let now = self.clock.now();
        let keys: Vec<CounterKey> = limits
            .iter()
            .map(|l| CounterKey {
                tenant_id,
                limit_id: l.id.clone(),
                // A `per` limit shows its shared counter here: each value's own is not listed.
                per_value: String::new(),
                period_start: l.window.period_start(now).timestamp_millis(),
            })
            .collect();
        let used = self.store.counter_values(&keys).await?;
        Ok(limits
            .into_iter()
            .zip(keys)
            .map(|(limit, key)| {
                let used = used.get(&key).copied().unwrap_or(0);
                let status = status_of(&limit, used, now);
                (limit, status)
            })
            .collect())
    }

    /// The limit `id` as it stands, unless someone other than `owner` owns it.
    async fn check_owner(
        &self,
        tenant_id: Uuid,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Option<Limit>> {
        match self.store.limit(tenant_id, id).await? {
            Some(existing) if existing.owner.as_deref() != owner => Err(Error::Conflict {
                message: format!(
                    "limit {id} is managed by {}",
                    existing.owner.as_deref().unwrap_or("the native API")
                ),
                existing: Some(id.to_owned()),
            }),
            existing => Ok(existing),
        }
    }
}
