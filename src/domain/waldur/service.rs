//! The chat-quota service: usage reads, `set_quota`, and the tenants' default limits (made when a
//! tenant is and brought to the configured system defaults at start-up). Nothing here runs on a
//! usage request: the engine enforces the defaults and users' own limits by precedence.

use std::collections::{BTreeSet, HashSet};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    DEFAULTS_OWNER, METRIC, NO_PERMISSION, NOT_YOUR_USAGE, OwnLimits, PerPeriod, Period,
    PeriodUsage, QuotaChange, SystemDefaults, TokenQuotaUsage, USER, default_limit, engine_limit,
    family, limit_id, owner, parse_user, subject,
};
use crate::domain::aggregate::{AggregateStore, AggregateWrite, Carry, OwnedLimits, Row, Written};
use crate::domain::audit::{Actor, AuditRecord, ResourceType, chat_quota_json};
use crate::domain::limit::Limit;
use crate::domain::ports::*;
use crate::domain::precedence::Standing;
use crate::domain::principal::{Caller, Role};
use crate::domain::usage::Engine;
use crate::domain::usage::batch::CounterKey;
use crate::domain::{Error, Result};

/// Most tenants remembered as having their default limits; the set starts over when full.
const MAX_READY: usize = 100_000;

/// The service, one per process, shared by the Waldur handlers.
pub struct ChatQuotas<S> {
    store: S,
    defaults: SystemDefaults,
    /// Tenants whose default limits this process has made sure of.
    ready: RwLock<HashSet<Uuid>>,
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

    /// `GET usage`: the caller's own quota, or (for staff and support) `user_uuid`'s. Reads
    /// only: the usage of each period is the user's count on the limit that applies to them.
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
        let tenant_id = caller.tenant_id;
        let own = self.known(tenant_id, user).await?.unwrap_or_default();
        let applying = engine.effective(tenant_id, &subject(user), METRIC).await?;
        let now = engine.now();
        let period_usage = |period: Period| -> Result<PeriodUsage> {
            let family = family(period);
            let used = applying
                .iter()
                .find(|e| {
                    e.standing == Standing::Applies
                        && e.limit.shape.family.as_deref() == Some(family.as_str())
                })
                .map_or(0, |e| e.status.used);
            let reset_at = period
                .window()
                .next_reset(now)
                .ok_or_else(|| Error::Internal("a calendar period has no end".into()))?;
            Ok(PeriodUsage::new(
                *own.get(period),
                *self.defaults.0.get(period),
                used,
                reset_at,
            ))
        };
        Ok(PerPeriod {
            daily: period_usage(Period::Daily)?,
            weekly: period_usage(Period::Weekly)?,
            monthly: period_usage(Period::Monthly)?,
        })
    }

    /// `set_quota` (staff and support only): changes the limits present in `change`; the user's
    /// own engine limits are then those of the periods they have one for, and the default
    /// governs the rest. One transaction, with the user's count of the current period moved to
    /// whichever limit now applies to them.
    pub async fn set_quota(
        &self,
        engine: &Engine<S>,
        caller: &Caller,
        actor: &Actor,
        change: QuotaChange,
    ) -> Result<()> {
        require_staff_or_support(caller)?;
        let (tenant_id, user) = (caller.tenant_id, change.user);
        let before = self.known(tenant_id, user).await?;
        let stored = before.unwrap_or_default();
        let own: OwnLimits = PerPeriod::from_fn(|p| match change.limits.get(p) {
            Some(wanted) => *wanted,
            None => *stored.get(p),
        });
        let audit = AuditRecord::change(
            actor,
            tenant_id,
            ResourceType::WaldurChatQuota,
            user.simple().to_string(),
            before.as_ref().map(chat_quota_json),
            Some(chat_quota_json(&own)),
            engine.now(),
        );
        self.write_user(engine, tenant_id, user, &own, &change.limits, Some(&audit))
            .await
    }

    /// Writes `user`'s own limits for `own` (with the quota row's `changes` and `audit`), moving
    /// their count between the default and their own limit where that changes.
    async fn write_user(
        &self,
        engine: &Engine<S>,
        tenant_id: Uuid,
        user: Uuid,
        own: &OwnLimits,
        changes: &super::LimitChanges,
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        self.ensure_defaults(engine, tenant_id).await?;
        let now = engine.now();
        let limits: Vec<Limit> = Period::ALL
            .into_iter()
            .filter_map(|p| {
                own.get(p)
                    .map(|amount| engine_limit(tenant_id, user, p, amount, now))
            })
            .collect();
        let mut old = Vec::new();
        for period in Period::ALL {
            old.extend(self.store.limit(tenant_id, &limit_id(user, period)).await?);
        }
        engine.ensure_room(tenant_id, &limits, &old).await?;
        let carries = Period::ALL
            .into_iter()
            .filter_map(|p| {
                let had = old.iter().any(|l| l.id == limit_id(user, p));
                carry(tenant_id, user, p, had, own.get(p).is_some(), now)
            })
            .collect();
        let write = AggregateWrite {
            carries,
            limits: Some(OwnedLimits {
                tenant_id,
                owner: owner(user),
                limits,
            }),
            audit,
            ..AggregateWrite::of(Row::SetChatQuota {
                tenant_id,
                user_id: user,
                changes,
                at: now,
            })
        };
        let written = self.store.write_aggregate(&write).await?;
        engine.limits_changed(tenant_id, [METRIC]);
        match written {
            Written::Done => Ok(()),
            Written::Taken(id) => Err(Error::Conflict {
                message: format!("limit {id} is managed by the native API"),
                existing: Some(id),
            }),
            other => Err(Error::Internal(format!(
                "a chat quota write ended as {other:?}"
            ))),
        }
    }

    /// A user the tenant knows (a key acts as them, or they have a stored quota): their stored
    /// quota, if any. Anyone else is [`Error::NotFound`].
    async fn known(&self, tenant_id: Uuid, user: Uuid) -> Result<Option<OwnLimits>> {
        let stored = self.store.chat_quota(tenant_id, user).await?;
        if stored.is_none() && !self.store.user_has_key(tenant_id, user).await? {
            return Err(Error::NotFound(USER));
        }
        Ok(stored)
    }

    /// Makes `tenant_id`'s default limits exist at the configured system defaults (once per
    /// process; a tenant made on another replica gets them on its first `set_quota` here, or at
    /// the next start-up).
    pub async fn ensure_defaults(&self, engine: &Engine<S>, tenant_id: Uuid) -> Result<()> {
        if self.ready.read().is_ok_and(|r| r.contains(&tenant_id)) {
            return Ok(());
        }
        let now = engine.now();
        for period in Period::ALL {
            let wanted = default_limit(tenant_id, period, *self.defaults.0.get(period), now);
            let stored = self.store.limit(tenant_id, &wanted.id).await?;
            let same = stored.is_some_and(|l| l.same_terms(&wanted) && l.owner == wanted.owner);
            if !same {
                engine.put_limit(&wanted, &Actor::start_up()).await?;
            }
        }
        if let Ok(mut ready) = self.ready.write() {
            if ready.len() >= MAX_READY {
                ready.clear();
            }
            ready.insert(tenant_id);
        }
        Ok(())
    }

    /// At start-up: every tenant's default limits at the configured system defaults (a changed
    /// default is three rows a tenant), and users' limits written before defaults were limits of
    /// their own (one per user and period, at the effective amount) moved to the families, their
    /// counts carried. Returns how many users were moved.
    pub async fn apply_defaults(&self, engine: &Engine<S>) -> Result<usize> {
        let mut moved = 0;
        for tenant in self.store.tenants().await? {
            // One tenant's data never stops the others (nor the server's start).
            match self.apply_defaults_to(engine, tenant.id).await {
                Ok(n) => moved += n,
                Err(e) => tracing::warn!(tenant = %tenant.id, error = %e,
                    "could not bring this tenant's chat token limits to the system defaults"),
            }
        }
        Ok(moved)
    }

    async fn apply_defaults_to(&self, engine: &Engine<S>, tenant_id: Uuid) -> Result<usize> {
        self.ensure_defaults(engine, tenant_id).await?;
        // A user's limit without a family is one made before the defaults were limits.
        let earlier: BTreeSet<Uuid> = self
            .store
            .limits_of_metric(tenant_id, METRIC)
            .await?
            .iter()
            .filter(|l| l.family.is_none() && l.owner.as_deref() != Some(DEFAULTS_OWNER))
            .filter_map(|l| {
                l.owner
                    .as_deref()?
                    .strip_prefix("waldur:")
                    .and_then(parse_user)
            })
            .collect();
        for &user in &earlier {
            let own = self
                .store
                .chat_quota(tenant_id, user)
                .await?
                .unwrap_or_default();
            let unchanged = PerPeriod::from_fn(|_| None);
            self.write_user(engine, tenant_id, user, &own, &unchanged, None)
                .await?;
        }
        Ok(earlier.len())
    }
}

/// The carry of `user`'s count in `period` when they move between the default (`had` and
/// `has` tell whether they have their own limit before and after), if they move.
fn carry(
    tenant_id: Uuid,
    user: Uuid,
    period: Period,
    had: bool,
    has: bool,
    now: DateTime<Utc>,
) -> Option<Carry> {
    let window = period.window();
    let period_start = window.period_start(now).timestamp_millis();
    let own = CounterKey {
        tenant_id,
        limit_id: limit_id(user, period),
        per_value: String::new(),
        period_start,
    };
    let default = default_limit(tenant_id, period, 0, now);
    let shared = CounterKey {
        tenant_id,
        limit_id: default.id.clone(),
        per_value: default.partition(&subject(user)),
        period_start,
    };
    let (from, to) = match (had, has) {
        (false, true) => (shared, own),
        (true, false) => (own, shared),
        _ => return None,
    };
    Some(Carry {
        from,
        to,
        period_end: window.next_reset(now)?.timestamp_millis(),
        at_ms: now.timestamp_millis(),
    })
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
