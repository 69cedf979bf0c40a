//! Enforcement: quotaplane's own resources take one unit of their applied quota before they are
//! created and give it back when they go, and every applied quota's limit exists before the
//! engine is asked about it (a [`Preparer`]), so the default limit applies with no adjustment.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use uuid::Uuid;

use super::{
    API_KEYS, DATAROBOT_QUOTAS, KAFKA_CLIENT_QUOTAS, ORGANIZATION_KEY, QuotaCode, Scope, ScopeRef,
    builtin_codes, default_limit, documented_codes, limit_id, subject,
};
use crate::domain::aggregate::Unit;
use crate::domain::datarobot::{Page, QuotaFilter};
use crate::domain::limit::Subject;
use crate::domain::ports::*;
use crate::domain::usage::{Engine, Prepared, Preparer, Usage};
use crate::domain::{Error, Result};

/// Takes one unit of `code` for `reference` in `tenant_id`, or refuses with
/// [`Error::LimitReached`] when the applied limit is reached. Atomic under concurrency: the
/// engine decides each consume in order against the counter.
pub async fn take(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Result<()> {
    let usage = usage_of(code, tenant_id, reference);
    let decision = engine.consume(tenant_id, &usage, None).await?;
    if decision.allowed {
        return Ok(());
    }
    let limit = decision
        .limits
        .first()
        .and_then(|l| l.limit)
        .unwrap_or(code.default_limit);
    Err(Error::LimitReached {
        message: format!(
            "The request would exceed the quota: {} (applied limit {limit})",
            code.code
        ),
    })
}

/// The unit a resource of `code` for `reference` takes, for an aggregate write that takes or
/// gives it back in the resource's own transaction. Makes the applied limit exist first.
pub async fn unit(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Result<Unit> {
    engine
        .prepare(tenant_id, &usage_of(code, tenant_id, reference))
        .await?;
    Ok(Unit {
        tenant_id,
        limit_id: limit_id(&code.code, reference),
        at_ms: engine.now().timestamp_millis(),
    })
}

/// The refusal of a create that found no room in the applied limit of `code`.
pub fn no_room(code: &QuotaCode) -> Error {
    Error::LimitReached {
        message: format!(
            "The request would exceed the quota: {} (its applied limit is reached)",
            code.code
        ),
    }
}

/// Gives back the unit a resource took (never below 0): its create failed, or it was deleted.
pub async fn give_back(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Result<()> {
    let usage = usage_of(code, tenant_id, reference);
    // A limit without a window has one period, so the period of "now" is the one counted in.
    engine.refund(tenant_id, &usage, engine.now()).await
}

/// Gives back the unit of a resource that is already deleted: a failure is logged, not
/// returned, since the deletion itself succeeded.
pub async fn release(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) {
    if let Err(e) = give_back(engine, tenant_id, code, reference).await {
        tracing::warn!(code = %code.code, error = %e, "a deleted resource's quota unit was not given back");
    }
}

fn usage_of(code: &QuotaCode, tenant_id: Uuid, reference: &ScopeRef) -> Usage {
    Usage {
        subject: subject(code.scope, tenant_id, reference),
        metric: code.code.clone(),
        amount: 1,
    }
}

/// How many of quotaplane's own resources `code` counts now, read from the store (`None` for
/// codes whose usage is reported by other services).
pub async fn live_count(
    store: &impl Store,
    tenant_id: Uuid,
    code: &str,
    reference: &ScopeRef,
) -> Result<Option<i64>> {
    Ok(match code {
        KAFKA_CLIENT_QUOTAS => {
            let (Some(environment), Some(cluster)) =
                (reference.get("environment"), reference.get("kafka_cluster"))
            else {
                return Ok(None);
            };
            Some(
                store
                    .count_client_quotas(tenant_id, environment, cluster)
                    .await?,
            )
        }
        API_KEYS => Some(store.keys(tenant_id).await?.len() as i64),
        DATAROBOT_QUOTAS => {
            let page = Page {
                offset: 0,
                limit: 1,
            };
            Some(
                store
                    .datarobot_quotas(tenant_id, &QuotaFilter::default(), page)
                    .await?
                    .1,
            )
        }
        _ => None,
    })
}

/// Makes the limit of an applied quota exist before the engine matches a request against it:
/// created at the code's default, and for quotaplane's own resources with the usage set to the
/// real count (so resources made before the limit existed are counted).
pub struct ServiceQuotaLimits<S> {
    store: S,
    /// The catalogue as this process knows it.
    codes: RwLock<HashMap<String, QuotaCode>>,
    /// Limits known to exist: (tenant, limit id).
    ready: RwLock<HashSet<(Uuid, String)>>,
}

impl<S: EngineStore> ServiceQuotaLimits<S> {
    /// The hook over `store`, knowing the built-in and the documented codes.
    pub fn new(store: S) -> Self {
        let codes = builtin_codes()
            .into_iter()
            .chain(documented_codes())
            .map(|c| (c.code.clone(), c))
            .collect();
        Self {
            store,
            codes: RwLock::new(codes),
            ready: RwLock::default(),
        }
    }

    /// Learns (or relearns) a code, so usage reported for it creates its limits.
    pub fn learn(&self, code: &QuotaCode) {
        if let Ok(mut codes) = self.codes.write() {
            codes.insert(code.code.clone(), code.clone());
        }
    }

    /// Learns every operator-defined code from the store.
    pub async fn load(&self) -> Result<()> {
        for code in self.store.service_quota_codes().await? {
            self.learn(&code);
        }
        Ok(())
    }

    /// Learns the stored codes now and every `every` after, so codes defined on another replica
    /// (or before a restart) are known here; stops when the hook is dropped.
    pub fn keep_loaded(hook: &Arc<Self>, every: Duration) {
        let hook = Arc::downgrade(hook);
        tokio::spawn(async move {
            loop {
                let Some(live) = hook.upgrade() else { return };
                if let Err(e) = live.load().await {
                    tracing::warn!(error = %e, "the service-quota codes were not loaded");
                }
                drop(live);
                tokio::time::sleep(every).await;
            }
        });
    }

    fn code(&self, name: &str) -> Option<QuotaCode> {
        self.codes.read().ok()?.get(name).cloned()
    }

    fn is_ready(&self, tenant_id: Uuid, id: &str) -> bool {
        self.ready
            .read()
            .is_ok_and(|r| r.contains(&(tenant_id, id.to_owned())))
    }

    /// Makes the limit of `code` for `reference` exist; true when this call created it.
    pub async fn ensure(
        &self,
        engine: &Engine<S>,
        tenant_id: Uuid,
        code: &QuotaCode,
        reference: &ScopeRef,
    ) -> Result<bool> {
        let id = limit_id(&code.code, reference);
        if self.is_ready(tenant_id, &id) {
            return Ok(false);
        }
        // Counted before the limit exists: every create takes its unit through the limit, so
        // what is stored now was made without one (before quotaplane counted it) and is
        // counted exactly once. Nothing stored (the usual first use): no report at all, so no
        // create that runs meanwhile can be overwritten.
        let before = live_count(&self.store, tenant_id, &code.code, reference).await?;
        let limit = default_limit(code, tenant_id, reference, engine.now());
        let created = engine.ensure_limit(&limit).await?;
        if let Ok(mut ready) = self.ready.write() {
            ready.insert((tenant_id, id));
        }
        if let (true, Some(count)) = (created, before.filter(|n| *n > 0)) {
            let usage = Usage {
                subject: limit.selector.clone(),
                metric: code.code.clone(),
                amount: count,
            };
            engine.report(tenant_id, &usage).await?;
        }
        Ok(created)
    }

    async fn prepare_usage(
        &self,
        engine: &Engine<S>,
        tenant_id: Uuid,
        usage: &mut Usage,
    ) -> Result<()> {
        let Some(code) = self.code(&usage.metric) else {
            return Ok(());
        };
        if code.scope == Scope::Organization {
            // The organization is the caller's tenant, whatever a reporter wrote.
            let mut pairs = usage.subject.as_map().clone();
            pairs.insert(ORGANIZATION_KEY.to_owned(), tenant_id.to_string());
            usage.subject = Subject::parse(pairs, "/subject")?;
        }
        let given = usage.subject.as_map().clone();
        // A request that does not name the scope's references matches no limit of the code.
        let Ok(reference) = ScopeRef::of(code.scope, &given, |k, m| Error::invalid_query(k, m))
        else {
            return Ok(());
        };
        self.ensure(engine, tenant_id, &code, &reference)
            .await
            .map(drop)
    }
}

impl<S: EngineStore> Preparer<S> for ServiceQuotaLimits<S> {
    fn wants(&self, usage: &Usage) -> bool {
        self.codes
            .read()
            .is_ok_and(|c| c.contains_key(&usage.metric))
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
