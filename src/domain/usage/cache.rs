//! Limits in memory, per tenant and metric, indexed so that matching a subject does not scan every
//! limit. Limits change only through the control plane: a change on this server invalidates its
//! metric at once; one on another replica is seen within [`LimitCache::TTL`]. Amounts are always
//! re-read inside the batch's transaction, so only which limits exist can lag, never what they
//! allow.
//!
//! Bounded: at most [`LimitCache::MAX_ENTRIES`] metrics and [`LimitCache::MAX_LIMITS`] limits
//! are held, and a metric not asked for during [`LimitCache::IDLE`] is forgotten by
//! [`LimitCache::forget_idle`], so a client asking for ever new metric names (with or without
//! limits) cannot grow it without end. Past the limits' bound, the metrics checked longest ago
//! are evicted (down to 90% of it, so a full cache does not scan on every load); a metric whose
//! limits alone pass it is served uncached. Hits and misses are counted in
//! `quotaplane_cache_lookups_total{cache="limits"}`; what is held in
//! `quotaplane_engine_limit_cache_metrics` and `quotaplane_engine_limit_cache_limits`, and what
//! left in `quotaplane_engine_limit_cache_evictions_total{reason="idle|full"}`.
//!
//! A limit is held in its compact form ([`CachedLimit`]: id, selector values, amount, expiry,
//! rules, and a [`Shape`] shared with the metric's other limits that look like it), in one list
//! per metric sorted by the selector's first pair, so a subject's candidates are found by binary
//! search and the index costs 8 bytes a limit.
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
use crate::domain::ports::*;

mod compact;
mod entries;

use self::compact::Interner;
use self::entries::{Entries, evicted};

/// A limit's notification rules, shared.
pub type Rules = Arc<[Notification]>;

pub use self::compact::{CachedLimit, Selector, Shape};

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

/// One metric's limits in their compact form, sorted by the first pair of their selector (those
/// with an empty selector first), so the limits a subject's pair can select are one range found
/// by binary search: the index costs no memory beyond the list itself.
struct MetricIndex {
    limits: Vec<Arc<CachedLimit>>,
    /// How many limits (at the front) have an empty selector: they apply to every subject.
    everyone: usize,
}

impl MetricIndex {
    fn build(limits: Vec<Limit>, rules: Vec<(String, Notification)>) -> Self {
        let mut grouped: HashMap<String, Vec<Notification>> = HashMap::new();
        for (limit_id, rule) in rules {
            grouped.entry(limit_id).or_default().push(rule);
        }
        let mut interner = Interner::default();
        let mut compact: Vec<Arc<CachedLimit>> = limits
            .into_iter()
            .map(|limit| {
                let rules = grouped.remove(&limit.id);
                Arc::new(interner.compact(limit, rules))
            })
            .collect();
        compact.sort_by(|a, b| a.selector().first().cmp(&b.selector().first()));
        compact.shrink_to_fit();
        let everyone = compact.partition_point(|l| l.selector().is_empty());
        Self {
            limits: compact,
            everyone,
        }
    }

    fn matching(&self, subject: &Subject) -> Vec<Arc<CachedLimit>> {
        let (everyone, selective) = self.limits.split_at(self.everyone);
        let mut found: Vec<Arc<CachedLimit>> = everyone.to_vec();
        for pair in subject.pairs() {
            let from = selective.partition_point(|l| l.selector().first() < Some(pair));
            let to =
                from + selective[from..].partition_point(|l| l.selector().first() == Some(pair));
            found.extend(
                selective[from..to]
                    .iter()
                    .filter(|l| l.selector().selects(subject))
                    .cloned(),
            );
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }
}

/// The cache.
pub struct LimitCache {
    max_entries: usize,
    max_limits: usize,
    idle: Duration,
    entries: RwLock<Entries>,
    /// Bumped by each invalidation of a key, so a load that read the store before one is not
    /// kept after it.
    generations: RwLock<HashMap<Key, u64>>,
    /// Bumped when idle generations are pruned: a load that began before is not kept (its key's
    /// generation may have been forgotten under it).
    epoch: std::sync::atomic::AtomicU64,
    /// One cold load at a time; while it runs, others keep using what is cached, if anything.
    loading: tokio::sync::Mutex<()>,
}

impl Default for LimitCache {
    fn default() -> Self {
        Self::bounded(Self::MAX_ENTRIES, Self::IDLE)
    }
}

fn counted(outcome: &'static str) {
    metrics::counter!("quotaplane_cache_lookups_total", "cache" => "limits", "outcome" => outcome)
        .increment(1);
}

impl LimitCache {
    /// How long a metric's limits are trusted before they are read again.
    pub const TTL: Duration = Duration::from_secs(5);
    /// Most metrics held at once (over all tenants); past it, new ones are served uncached
    /// until [`LimitCache::forget_idle`] makes room.
    pub const MAX_ENTRIES: usize = 50_000;
    /// How long a metric nobody asks for stays cached.
    pub const IDLE: Duration = Duration::from_secs(600);
    /// Most limits held at once (over all metrics and tenants).
    pub const MAX_LIMITS: usize = 500_000;

    /// The limits of `tenant_id` that apply to `subject` and `metric`, ordered by id, each with
    /// its notification rules.
    pub async fn matching(
        &self,
        store: &(impl LimitStore + NotificationStore),
        tenant_id: Uuid,
        subject: &Subject,
        metric: &str,
    ) -> Result<Vec<Arc<CachedLimit>>> {
        let limits = self.metric(store, tenant_id, metric).await?;
        Ok(limits.index.matching(subject))
    }

    async fn metric(
        &self,
        store: &(impl LimitStore + NotificationStore),
        tenant_id: Uuid,
        metric: &str,
    ) -> Result<Arc<MetricLimits>> {
        let cached = self.cached(tenant_id, metric);
        if let Some(limits) = &cached {
            if limits.checked.elapsed() < Self::TTL {
                counted("hit");
                return Ok(limits.clone());
            }
        }
        let _guard = match (self.loading.try_lock(), cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => {
                counted("stale");
                return Ok(stale);
            }
            (Err(_), None) => self.loading.lock().await,
        };
        let cached = self.cached(tenant_id, metric);
        if let Some(fresh) = cached.as_ref().filter(|l| l.checked.elapsed() < Self::TTL) {
            counted("hit");
            return Ok(fresh.clone());
        }
        let key = (tenant_id, metric.to_owned());
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        let generation = self.generation(&key);
        // Ask first whether anything changed: a large metric is then read and indexed again only
        // when it did, not every TTL.
        let fingerprint = store.limits_fingerprint(tenant_id, metric).await?;
        let index = match cached.filter(|c| c.fingerprint == fingerprint) {
            Some(unchanged) => {
                counted("revalidated");
                unchanged.index.clone()
            }
            None => {
                counted("miss");
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
            let current = self.generation(&key) == generation
                && self.epoch.load(std::sync::atomic::Ordering::Acquire) == epoch;
            let known = entries
                .get(&tenant_id)
                .is_some_and(|m| m.contains_key(metric));
            let room = known || entries.metrics < self.max_entries;
            let size = loaded.index.limits.len();
            if current && room && size <= self.max_limits {
                if entries.limits + size > self.max_limits {
                    let target = (self.max_limits / 10 * 9).min(self.max_limits - size);
                    evicted("full", entries.evict_to(target));
                }
                let (tenant_id, metric) = key;
                entries.insert(tenant_id, metric, loaded.clone());
                entries.publish();
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

    /// A cache of at most `max_entries` metrics, each forgotten after `idle` unused.
    pub fn bounded(max_entries: usize, idle: Duration) -> Self {
        Self::bounded_by(max_entries, Self::MAX_LIMITS, idle)
    }

    /// A cache of at most `max_entries` metrics and `max_limits` limits, each metric forgotten
    /// after `idle` unused.
    pub fn bounded_by(max_entries: usize, max_limits: usize, idle: Duration) -> Self {
        evicted("idle", 0);
        evicted("full", 0);
        Entries::default().publish();
        Self {
            max_entries,
            max_limits,
            idle,
            entries: RwLock::default(),
            generations: RwLock::default(),
            epoch: std::sync::atomic::AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets the metrics not asked for during [`LimitCache::IDLE`] (an entry in use is checked
    /// again every [`LimitCache::TTL`]), and the invalidation marks of metrics no longer held.
    /// Run periodically.
    pub fn forget_idle(&self) {
        if let Ok(mut entries) = self.entries.write() {
            evicted(
                "idle",
                entries.retain(|limits| limits.checked.elapsed() < self.idle),
            );
            entries.publish();
            if let Ok(mut generations) = self.generations.write() {
                if !generations.is_empty() {
                    self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    generations.retain(|(tenant_id, metric), _| {
                        entries
                            .get(tenant_id)
                            .is_some_and(|m| m.contains_key(metric))
                    });
                }
            }
        }
    }

    /// How many metrics are held (all tenants).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.metrics)
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets a tenant's limits of `metric`, so the next request of it reads them again.
    pub fn invalidate(&self, tenant_id: Uuid, metric: &str) {
        let key = (tenant_id, metric.to_owned());
        if let Ok(mut generations) = self.generations.write() {
            *generations.entry(key.clone()).or_default() += 1;
        }
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&tenant_id, metric);
            entries.publish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AnyStore;

    async fn store() -> (AnyStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("qp-cache-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}/t.db", dir.display());
        (AnyStore::connect(&url).await.expect("store"), dir)
    }

    #[tokio::test]
    async fn ever_new_metric_names_never_grow_the_cache_past_its_bound() {
        let (store, dir) = store().await;
        let cache = LimitCache::bounded(5, LimitCache::IDLE);
        let (tenant, anyone) = (Uuid::new_v4(), Subject::default());
        for i in 0..20 {
            let found = cache
                .matching(&store, tenant, &anyone, &format!("m{i}"))
                .await;
            assert!(found.expect("matching").is_empty());
        }
        assert_eq!(cache.len(), 5);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn metrics_left_idle_are_forgotten() {
        let (store, dir) = store().await;
        let cache = LimitCache::bounded(100, Duration::ZERO);
        let (tenant, anyone) = (Uuid::new_v4(), Subject::default());
        for metric in ["a", "b"] {
            cache
                .matching(&store, tenant, &anyone, metric)
                .await
                .expect("matching");
        }
        cache.invalidate(tenant, "a");
        assert_eq!(cache.len(), 1);
        cache.forget_idle();
        assert!(cache.is_empty());
        assert!(
            cache
                .generations
                .read()
                .map(|g| g.is_empty())
                .unwrap_or(false)
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
