//! Limits in memory, per tenant, indexed so that matching a subject does not scan every limit.
//! Limits change only through the control plane: a change on this server invalidates at once;
//! one on another replica is seen within [`LimitCache::TTL`]. Amounts are always re-read inside
//! the batch's transaction, so only which limits exist can lag, never what they allow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::Result;
use crate::domain::limit::{Limit, Subject};
use crate::domain::notification::Notification;
use crate::store::{AnyStore, Store};

/// One metric's limits, indexed by the first pair of their selector.
#[derive(Default)]
struct MetricIndex {
    limits: Vec<Arc<Limit>>,
    /// key -> value -> positions in `limits`.
    by_first_pair: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Limits with an empty selector: they apply to every subject.
    everyone: Vec<usize>,
}

/// A limit's notification rules, shared.
pub type Rules = Arc<[Notification]>;

/// A tenant's limits, by metric, with their notification rules.
struct TenantLimits {
    loaded: Instant,
    by_metric: HashMap<String, MetricIndex>,
    rules: HashMap<String, Rules>,
}

impl TenantLimits {
    fn build(limits: Vec<Limit>, rules: Vec<(String, Notification)>) -> Self {
        let mut grouped: HashMap<String, Vec<Notification>> = HashMap::new();
        for (limit_id, rule) in rules {
            grouped.entry(limit_id).or_default().push(rule);
        }
        let mut by_metric: HashMap<String, MetricIndex> = HashMap::new();
        for limit in limits {
            let index = by_metric.entry(limit.metric.clone()).or_default();
            let position = index.limits.len();
            match limit.selector.pairs().next() {
                Some((k, v)) => index
                    .by_first_pair
                    .entry(k.to_owned())
                    .or_default()
                    .entry(v.to_owned())
                    .or_default()
                    .push(position),
                None => index.everyone.push(position),
            }
            index.limits.push(Arc::new(limit));
        }
        Self {
            loaded: Instant::now(),
            by_metric,
            rules: grouped
                .into_iter()
                .map(|(id, rules)| (id, Rules::from(rules)))
                .collect(),
        }
    }

    fn rules_of(&self, limit_id: &str) -> Rules {
        self.rules
            .get(limit_id)
            .cloned()
            .unwrap_or_else(|| Rules::from(Vec::new()))
    }

    fn matching(&self, subject: &Subject, metric: &str) -> Vec<Arc<Limit>> {
        let Some(index) = self.by_metric.get(metric) else {
            return Vec::new();
        };
        let candidates = subject
            .pairs()
            .filter_map(|(k, v)| index.by_first_pair.get(k)?.get(v))
            .flatten()
            .chain(&index.everyone);
        let mut found: Vec<Arc<Limit>> = candidates
            .map(|&i| &index.limits[i])
            .filter(|l| l.selector.selects(subject))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }
}

/// The cache.
#[derive(Default)]
pub struct LimitCache {
    tenants: RwLock<HashMap<Uuid, Arc<TenantLimits>>>,
    loading: tokio::sync::Mutex<()>,
    /// Counts invalidations, so a load that read the store before one is not kept after it.
    invalidations: AtomicU64,
}

impl LimitCache {
    /// How long a tenant's limits are trusted before they are read again.
    pub const TTL: Duration = Duration::from_secs(5);

    /// The limits of `tenant_id` that apply to `subject` and `metric`, ordered by id, each with
    /// its notification rules.
    pub async fn matching(
        &self,
        store: &AnyStore,
        tenant_id: Uuid,
        subject: &Subject,
        metric: &str,
    ) -> Result<Vec<(Arc<Limit>, Rules)>> {
        let limits = self.tenant(store, tenant_id).await?;
        Ok(limits
            .matching(subject, metric)
            .into_iter()
            .map(|limit| {
                let rules = limits.rules_of(&limit.id);
                (limit, rules)
            })
            .collect())
    }

    async fn tenant(&self, store: &AnyStore, tenant_id: Uuid) -> Result<Arc<TenantLimits>> {
        let cached = self.cached(tenant_id);
        if let Some(limits) = &cached {
            if limits.loaded.elapsed() < Self::TTL {
                return Ok(limits.clone());
            }
        }
        // One loader at a time; while it works, others keep using what is cached, if anything.
        let _guard = match (self.loading.try_lock(), cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => self.loading.lock().await,
        };
        if let Some(fresh) = self
            .cached(tenant_id)
            .filter(|l| l.loaded.elapsed() < Self::TTL)
        {
            return Ok(fresh);
        }
        let invalidations = self.invalidations.load(Ordering::SeqCst);
        let limits = Arc::new(TenantLimits::build(
            store.limits(tenant_id).await?,
            store.notification_rules(tenant_id).await?,
        ));
        if let Ok(mut tenants) = self.tenants.write() {
            // A limit changed while the store was read: answer this caller, but let the next
            // one read again rather than keep what may predate the change.
            if self.invalidations.load(Ordering::SeqCst) == invalidations {
                tenants.insert(tenant_id, limits.clone());
            }
        }
        Ok(limits)
    }

    fn cached(&self, tenant_id: Uuid) -> Option<Arc<TenantLimits>> {
        self.tenants.read().ok()?.get(&tenant_id).cloned()
    }

    /// Forgets a tenant's limits, so the next request reads them again.
    pub fn invalidate(&self, tenant_id: Uuid) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut tenants) = self.tenants.write() {
            tenants.remove(&tenant_id);
        }
    }
}
