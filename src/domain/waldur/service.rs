//! The chat-quota service: usage reads, `set_quota`, start-up reconciliation, and the engine hook
//! that gives every user their limits before their first token is counted.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use uuid::Uuid;

use super::{
    METRIC, NO_PERMISSION, NOT_YOUR_USAGE, OwnLimits, PerPeriod, Period, PeriodUsage, QuotaChange,
    SystemDefaults, TokenQuotaUsage, USER, USER_KEY, engine_limit, limit_id, owner, parse_user,
};
use crate::domain::aggregate::{AggregateStore, AggregateWrite, OwnedLimits, Row, Written};
use crate::domain::audit::{Actor, AuditRecord, ResourceType, chat_quota_json};
use crate::domain::limit::{Limit, Subject};
use crate::domain::ports::*;
use crate::domain::principal::{Caller, Role};
use crate::domain::usage::{Engine, Prepared, Preparer, Usage};
use crate::domain::{Error, Result};

/// Most (tenant, user) pairs remembered as having their limits; the set starts over when full.
const MAX_READY: usize = 100_000;

/// The service, one per process: shared by the Waldur handlers and hooked into the engine.
pub struct ChatQuotas<S> {
    store: S,
    defaults: SystemDefaults,
    /// Users whose limits this process has made sure of, so the hot path asks the store once.
    ready: RwLock<HashSet<(Uuid, Uuid)>>,
}

impl<S: EngineStore + AggregateStore> ChatQuotas<S> {
    /// The service over `store`, with the configured system defaults.
    pub fn new(store: S, defaults: SystemDefaults) -> Self {
        Self {
            store,
            defaults,
            ready: RwLock::default(),
        }
    }

    /// The configured system defaults.
    pub fn defaults(&self) -> SystemDefaults {
        self.defaults
    }

    /// `GET usage`: the caller's own quota, or (for staff and support) `user_uuid`'s.
    pub async fn usage(
        &self,
        engine: &Engine<S>,
        caller: &Caller,
        user_uuid: Option<&str>,
    ) -> Result<TokenQuotaUsage> {
        let user = match user_uuid.filter(|raw| !raw.is_empty()) {
            None => caller.user_id.ok_or(Error::NotFound(USER))?,
            Some(raw) => {
                let wanted = parse_user(raw);
                if wanted.is_none_or(|u| Some(u) != caller.user_id) && !staff_or_support(caller) {
                    return Err(Error::Forbidden(NOT_YOUR_USAGE.into()));
                }
                wanted.ok_or(Error::NotFound(USER))?
            }
        };
        self.require_known(caller.tenant_id, user).await?;
        let own = self.ensure_user(engine, caller.tenant_id, user).await?;
        let now = engine.now();
        let mut periods = Vec::with_capacity(3);
        for period in Period::ALL {
            let id = limit_id(user, period);
            let used = match engine.limits(caller.tenant_id, Some(&id)).await {
                Ok(found) => found.first().map_or(0, |(_, status)| status.used),
                Err(Error::NotFound(_)) => 0,
                Err(e) => return Err(e),
            };
            let reset_at = period
                .window()
                .next_reset(now)
                .ok_or_else(|| Error::Internal("a calendar period has no end".into()))?;
            periods.push(PeriodUsage::new(
                *own.get(period),
                *self.defaults.0.get(period),
                used,
                reset_at,
            ));
        }
        let mut periods = periods.into_iter();
        let mut next = || {
            periods
                .next()
                .ok_or_else(|| Error::Internal("a period is missing".into()))
        };
        Ok(PerPeriod {
            daily: next()?,
            weekly: next()?,
            monthly: next()?,
        })
    }

    /// `set_quota` (staff and support only): changes the limits present in `change` and writes
    /// the user's three engine limits with the amounts then in effect, in one transaction.
    pub async fn set_quota(
        &self,
        engine: &Engine<S>,
        caller: &Caller,
        actor: &Actor,
        change: QuotaChange,
    ) -> Result<()> {
        require_staff_or_support(caller)?;
        let (tenant_id, user) = (caller.tenant_id, change.user);
        self.require_known(tenant_id, user).await?;
        let now = engine.now();
        let before = self.store.chat_quota(tenant_id, user).await?;
        let stored = before.unwrap_or_default();
        let own: OwnLimits = PerPeriod::from_fn(|p| match change.limits.get(p) {
            Some(wanted) => *wanted,
            None => *stored.get(p),
        });
        let limits: Vec<Limit> = Period::ALL
            .into_iter()
            .map(|p| engine_limit(tenant_id, user, p, self.defaults.effective(&own, p), now))
            .collect();
        let mut old = Vec::new();
        for limit in &limits {
            old.extend(self.store.limit(tenant_id, &limit.id).await?);
        }
        engine.ensure_room(tenant_id, &limits, &old).await?;
        let audit = AuditRecord::change(
            actor,
            tenant_id,
            ResourceType::WaldurChatQuota,
            user.simple().to_string(),
            before.as_ref().map(chat_quota_json),
            Some(chat_quota_json(&own)),
            now,
        );
        let write = AggregateWrite {
            row: Row::SetChatQuota {
                tenant_id,
                user_id: user,
                changes: &change.limits,
                at: now,
            },
            limits: Some(OwnedLimits {
                tenant_id,
                owner: owner(user),
                limits,
            }),
            rules: None,
            unit: None,
            audit: Some(&audit),
        };
        let written = self.store.write_aggregate(&write).await?;
        engine.limits_changed(tenant_id, [METRIC]);
        match written {
            Written::Done => {}
            Written::Taken(id) => {
                return Err(Error::Conflict {
                    message: format!("limit {id} is managed by the native API"),
                    existing: Some(id),
                });
            }
            other => {
                return Err(Error::Internal(format!(
                    "a chat quota write ended as {other:?}"
                )));
            }
        }
        self.remember(tenant_id, user);
        Ok(())
    }

    /// At start-up: every stored user's engine limits get the amounts now in effect, so a changed
    /// system default applies to everyone who has none of their own. Returns how many limits
    /// changed.
    pub async fn apply_defaults(&self, engine: &Engine<S>) -> Result<usize> {
        let mut changed = 0;
        for tenant in self.store.tenants().await? {
            // One tenant's data never stops the others (nor the server's start).
            match self.apply_defaults_to(engine, tenant.id).await {
                Ok(n) => changed += n,
                Err(e) => tracing::warn!(tenant = %tenant.id, error = %e,
                    "could not bring this tenant's chat token limits to the system defaults"),
            }
        }
        Ok(changed)
    }

    async fn apply_defaults_to(&self, engine: &Engine<S>, tenant_id: Uuid) -> Result<usize> {
        let now = engine.now();
        let mut changed = 0;
        let quotas = self.store.chat_quotas(tenant_id).await?;
        if quotas.is_empty() {
            return Ok(0);
        }
        let current: HashMap<String, Limit> = self
            .store
            .limits(tenant_id)
            .await?
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
        for (user, own) in quotas {
            for period in Period::ALL {
                let amount = self.defaults.effective(&own, period);
                let limit = engine_limit(tenant_id, user, period, amount, now);
                match current.get(&limit.id) {
                    Some(l) if l.amount == limit.amount && l.owner == limit.owner => {}
                    Some(_) => {
                        engine.put_limit(&limit, &Actor::start_up()).await?;
                        changed += 1;
                    }
                    None => {
                        engine.ensure_limits(std::slice::from_ref(&limit)).await?;
                        changed += 1;
                    }
                }
            }
        }
        Ok(changed)
    }

    /// A user is known when a key of the tenant acts as them or they have a stored quota.
    async fn require_known(&self, tenant_id: Uuid, user: Uuid) -> Result<()> {
        if self.store.user_has_key(tenant_id, user).await?
            || self.store.chat_quota(tenant_id, user).await?.is_some()
        {
            Ok(())
        } else {
            Err(Error::NotFound(USER))
        }
    }

    /// Makes sure `user` has a stored quota and their three engine limits (creating what is
    /// missing with the amounts in effect, never replacing what exists); their own limits.
    async fn ensure_user(
        &self,
        engine: &Engine<S>,
        tenant_id: Uuid,
        user: Uuid,
    ) -> Result<OwnLimits> {
        let now = engine.now();
        let own = self.store.ensure_chat_quota(tenant_id, user, now).await?;
        let limits: Vec<Limit> = Period::ALL
            .into_iter()
            .map(|p| engine_limit(tenant_id, user, p, self.defaults.effective(&own, p), now))
            .collect();
        engine.ensure_limits(&limits).await?;
        self.remember(tenant_id, user);
        Ok(own)
    }

    fn remember(&self, tenant_id: Uuid, user: Uuid) {
        if let Ok(mut ready) = self.ready.write() {
            if ready.len() >= MAX_READY {
                ready.clear();
            }
            ready.insert((tenant_id, user));
        }
    }

    fn is_ready(&self, tenant_id: Uuid, user: Uuid) -> bool {
        self.ready
            .read()
            .is_ok_and(|ready| ready.contains(&(tenant_id, user)))
    }

    /// The engine hook: a `chat_tokens` request whose subject names a user by UUID counts in the
    /// canonical (hyphenated, lower-case) form the user's limits select on, and the user's limits
    /// exist before it is matched, so the system default applies from the first token on. A user
    /// the tenant does not know is refused (422), with nothing written.
    async fn prepare_usage(
        &self,
        engine: &Engine<S>,
        tenant_id: Uuid,
        usage: &mut Usage,
    ) -> Result<()> {
        if usage.metric != METRIC {
            return Ok(());
        }
        let Some(user) = usage.subject.get(USER_KEY).and_then(parse_user) else {
            return Ok(());
        };
        let canonical = user.hyphenated().to_string();
        if usage.subject.get(USER_KEY) != Some(canonical.as_str()) {
            let mut pairs = usage.subject.as_map().clone();
            pairs.insert(USER_KEY.to_owned(), canonical);
            usage.subject = Subject::trusted(pairs);
        }
        if !self.is_ready(tenant_id, user) {
            // Only users the tenant knows get limits: a request naming anyone else creates
            // nothing (a check must never write, and random ids must not grow the store).
            self.require_known(tenant_id, user).await.map_err(|_| {
                Error::invalid_body(
                    format!("/subject/{USER_KEY}"),
                    "no key of this tenant acts as this user and no quota is set for them",
                )
            })?;
            self.ensure_user(engine, tenant_id, user).await?;
        }
        Ok(())
    }
}

impl<S: EngineStore + AggregateStore> Preparer<S> for ChatQuotas<S> {
    fn wants(&self, usage: &Usage) -> bool {
        usage.metric == METRIC && usage.subject.get(USER_KEY).is_some()
    }

    fn prepare<'a>(
        &'a self,
        engine: &'a Engine<S>,
        tenant_id: Uuid,
        usage: &'a mut Usage,
    ) -> Prepared<'a> {
        Box::pin(self.prepare_usage(engine, tenant_id, usage))
    }
}

/// Whether the caller is Waldur staff or support (a `system` key counts as both).
fn staff_or_support(caller: &Caller) -> bool {
    caller.require_any(&[Role::Staff, Role::Support]).is_ok()
}

/// Refuses everyone but staff and support, in Waldur's words.
pub fn require_staff_or_support(caller: &Caller) -> Result<()> {
    if staff_or_support(caller) {
        Ok(())
    } else {
        Err(Error::Forbidden(NO_PERMISSION.into()))
    }
}
