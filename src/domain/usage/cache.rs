//! Limits in memory, per tenant and metric, indexed so that matching a subject does not scan every
//! limit. Limits change only through the control plane: a change on this server invalidates its
//! metric at once; one on another replica is seen within [`LimitCache::TTL`]. Amounts are always
//! re-read inside the batch's transaction, so only which limits exist can lag, never what they
//! allow.
//!
//! Keying by metric keeps writes cheap: defining the ten-thousandth limit of one metric does not
//! make the next request of another metric (say, the request metering every call goes through)
//! read the tenant's whole set again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::Result;
use crate::domain::limit::{Limit, Subject};
use crate::domain::notification::Notification;
use crate::store::{AnyStore, Store};

/// A limit's notification rules, shared.
pub type Rules = Arc<[Notification]>;

/// Which limits a cache entry holds: one tenant's limits of one metric.
type Key = (Uuid, String);

/// What a store answers about a metric's limits that changes whenever one of them does.
type Fingerprint = (i64, Option<String>);

/// A cache entry: a metric's index, when it was last known current, and its fingerprint then.
struct MetricLimits {
    checked: Instant,
    fingerprint: Fingerprint,
    index: Arc<MetricIndex>,
}

/// One metric's limits, indexed by the first pair of their selector, with their rules.
struct MetricIndex {
    limits: Vec<(Arc<Limit>, Rules)>,
    /// key -> value -> positions in `limits`.
    by_first_pair: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Limits with an empty selector: they apply to every subject.
    everyone: Vec<usize>,
}

impl MetricIndex {
    fn build(limits: Vec<Limit>, rules: Vec<(String, Notification)>) -> Self {
        let mut grouped: HashMap<String, Vec<Notification>> = HashMap::new();
        for (limit_id, rule) in rules {
            grouped.entry(limit_id).or_default().push(rule);
        }
        let mut index = Self {
            limits: Vec::with_capacity(limits.len()),
            by_first_pair: HashMap::new(),
            everyone: Vec::new(),
        };
        for limit in limits {
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
            let rules = Rules::from(grouped.remove(&limit.id).unwrap_or_default());
            index.limits.push((Arc::new(limit), rules));
        }
        index
    }

    fn matching(&self, subject: &Subject) -> Vec<(Arc<Limit>, Rules)> {
        let candidates = subject
            .pairs()
            .filter_map(|(k, v)| self.by_first_pair.get(k)?.get(v))
            .flatten()
            .chain(&self.everyone);
        let mut found: Vec<(Arc<Limit>, Rules)> = candidates
            .map(|&i| &self.limits[i])
            .filter(|(l, _)| l.selector.selects(subject))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        found
    }
}

/// The cache.
#[derive(Default)]
pub struct LimitCache {
    /// tenant -> metric -> limits (nested, so a look-up by `&str` allocates nothing).
    entries: RwLock<HashMap<Uuid, HashMap<String, Arc<MetricLimits>>>>,
    /// Bumped by each invalidation of a key, so a load that read the store before one is not
    /// kept after it.
    generations: RwLock<HashMap<Key, u64>>,
    /// One cold load at a time; while it runs, others keep using what is cached, if anything.
    loading: tokio::sync::Mutex<()>,
}

impl LimitCache {
    /// How long a metric's limits are trusted before they are read again.
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
        let limits = self.metric(store, tenant_id, metric).await?;
        Ok(limits.index.matching(subject))
    }

    async fn metric(
        &self,
        store: &AnyStore,
        tenant_id: Uuid,
        metric: &str,
    ) -> Result<Arc<MetricLimits>> {
        let cached = self.cached(tenant_id, metric);
        if let Some(limits) = &cached {
            if limits.checked.elapsed() < Self::TTL {
                return Ok(limits.clone());
            }
        }
        let _guard = match (self.loading.try_lock(), cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => self.loading.lock().await,
        };
        let cached = self.cached(tenant_id, metric);
        if let Some(fresh) = cached.as_ref().filter(|l| l.checked.elapsed() < Self::TTL) {
            return Ok(fresh.clone());
        }
        let key = (tenant_id, metric.to_owned());
        let generation = self.generation(&key);
        // Ask first whether anything changed: a large metric is then read and indexed again only
        // when it did, not every TTL.
        let fingerprint = store.limits_fingerprint(tenant_id, metric).await?;
        let index = match cached.filter(|c| c.fingerprint == fingerprint) {
            Some(unchanged) => unchanged.index.clone(),
            None => {
                let limits = store.limits_of_metric(tenant_id, metric).await?;
                let rules = if limits.is_empty() {
                    Vec::new()
                } else {
                    store.notification_rules(tenant_id).await?
                };
                // Indexing thousands of limits is CPU work: keep it off the async workers.
                tokio::task::spawn_blocking(move || MetricIndex::build(limits, rules))
                    .await
                    .map(Arc::new)
                    .map_err(|e| crate::domain::Error::Internal(format!("indexing limits: {e}")))?
            }
        };
        let loaded = Arc::new(MetricLimits {
            checked: Instant::now(),
            fingerprint,
            index,
        });
        if let Ok(mut entries) = self.entries.write() {
            if self.generation(&key) == generation {
                let (tenant_id, metric) = key;
                entries
                    .entry(tenant_id)
                    .or_default()
                    .insert(metric, loaded.clone());
            }
        }
        Ok(loaded)
    }

    fn cached(&self, tenant_id: Uuid, metric: &str) -> Option<Arc<MetricLimits>> {
        self.entries
            .read()
            .ok()?
            .get(&tenant_id)?
            .get(metric)
            .cloned()
    }

    fn generation(&self, key: &Key) -> u64 {
        self.generations
            .read()
            .map(|g| g.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Forgets a tenant's limits of `metric`, so the next request of it reads them again.
    pub fn invalidate(&self, tenant_id: Uuid, metric: &str) {
        let key = (tenant_id, metric.to_owned());
        if let Ok(mut generations) = self.generations.write() {
            *generations.entry(key.clone()).or_default() += 1;
        }
        if let Ok(mut entries) = self.entries.write() {
            if let Some(metrics) = entries.get_mut(&tenant_id) {
                metrics.remove(metric);
            }
        }
    }
}
