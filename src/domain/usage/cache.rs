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
//! First loads: a metric with at most [`LimitCache::DIRECT_ABOVE`] limits is loaded by the
//! request that first asks for it (a few milliseconds). A larger one is loaded by a task of its
//! own, and until it is cached each request reads from the store only the limits that may select
//! its subject (`LimitStore::limits_selecting`: those with an empty selector or holding one of
//! the subject's pairs) and checks each as the index would, so the answer is exactly what a
//! loaded entry gives, and no request waits for the whole load. A request whose metric is not
//! cached while another metric loads does the same rather than queue behind that load. A metric
//! too large for [`LimitCache::MAX_LIMITS`] is always read that way.
//!
//! Keying by metric keeps writes cheap: defining the ten-thousandth limit of one metric does not
//! make the next request of another metric (say, the request metering every call goes through)
//! read the tenant's whole set again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::kept::Kept;
use crate::domain::Result;
use crate::domain::limit::Subject;
use crate::domain::notification::Notification;
use crate::domain::ports::*;

mod compact;
mod entries;
mod flight;
mod index;

use self::entries::{Entries, evicted};
use self::flight::Flights;
use self::index::{MetricIndex, direct};

/// A limit's notification rules, shared.
pub type Rules = Arc<[Notification]>;

pub use self::compact::{CachedLimit, Selector, Shape};

/// Which limits a cache entry holds: one tenant's limits of one metric.
type Key = (Uuid, String);

/// A read of the limits that may select a subject: the metric's key, the subject, and the
/// metric's generation when the read began (a read begun before a change is not shared after it).
type DirectRead = (Uuid, String, Subject, u64);

/// What a store answers about a metric's limits that changes whenever one of them does.
type Fingerprint = (i64, Option<String>);

/// A cache entry: a metric's index, when it was last known current, and its fingerprint then.
struct MetricLimits {
    checked: Instant,
    fingerprint: Fingerprint,
    index: Arc<MetricIndex>,
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
    /// One load at a time; while it runs, others keep using what is cached, or read the store.
    loading: tokio::sync::Mutex<()>,
    /// The metrics being loaded in the background.
    pending: std::sync::Mutex<std::collections::HashSet<Key>>,
    /// A metric with more limits than this is first loaded in the background.
    direct_above: usize,
    /// The store reads of uncached metrics in flight, shared by requests asking the same.
    direct_reads: Flights<DirectRead, Result<Vec<Arc<CachedLimit>>>>,
}

impl Default for LimitCache {
    fn default() -> Self {
        Self::bounded(Self::MAX_ENTRIES, Self::IDLE)
    }
}

fn counted(outcome: &'static str) {
    static KEPT: Kept<&'static str, metrics::Counter> = Kept::new();
    KEPT.get(outcome, || {
        metrics::counter!("quotaplane_cache_lookups_total", "cache" => "limits", "outcome" => outcome)
    })
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
    /// A metric with more limits than this is first loaded in the background, while requests
    /// read the limits that may select their subject from the store: no request waits for a
    /// large metric's whole load.
    pub const DIRECT_ABOVE: usize = 1_000;
    /// Most metrics waiting for a background load: past it, requests of other metrics read the
    /// store until one ends (a flood of new metric names cannot queue tasks without end).
    pub const MAX_PENDING: usize = 1_000;

    /// The limits of `tenant_id` that apply to `subject` and `metric`, ordered by id, each with
    /// its notification rules.
    pub async fn matching<S>(
        self: &Arc<Self>,
        store: &S,
        tenant_id: Uuid,
        subject: &Subject,
        metric: &str,
    ) -> Result<Vec<Arc<CachedLimit>>>
    where
        S: LimitStore + NotificationStore + Clone + Send + Sync + 'static,
    {
        match self.metric(store, tenant_id, metric).await? {
            Some(limits) => Ok(limits.index.matching(subject)),
            None => {
                counted("direct");
                let key = (tenant_id, metric.to_owned());
                let generation = self.generation(&key);
                let read = (key.0, key.1, subject.clone(), generation);
                self.direct_reads
                    .share(read, direct(store, tenant_id, subject, metric))
                    .await
            }
        }
    }

    /// The metric's limits as cached (loading them first when that is quick); `None` while a
    /// first load runs in the background, when the caller reads the store itself.
    async fn metric<S>(
        self: &Arc<Self>,
        store: &S,
        tenant_id: Uuid,
        metric: &str,
    ) -> Result<Option<Arc<MetricLimits>>>
    where
        S: LimitStore + NotificationStore + Clone + Send + Sync + 'static,
    {
        let cached = self.cached(tenant_id, metric);
        if let Some(limits) = &cached {
            if limits.checked.elapsed() < Self::TTL {
                counted("hit");
                return Ok(Some(limits.clone()));
            }
        }
        let guard = match (self.loading.try_lock(), cached) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => {
                counted("stale");
                return Ok(Some(stale));
            }
            (Err(_), None) => {
                // Another metric is loading: do not queue behind it.
                self.load_in_background(store, tenant_id, metric);
                return Ok(None);
            }
        };
        if self.cached(tenant_id, metric).is_none() {
            // Counted only as far as the question needs: as quick for a million limits.
            let most = i64::try_from(self.direct_above).unwrap_or(i64::MAX - 1) + 1;
            let count = store.count_limits_upto(tenant_id, metric, most).await?;
            if count >= most {
                drop(guard);
                self.load_in_background(store, tenant_id, metric);
                return Ok(None);
            }
        }
        self.load(store, tenant_id, metric).await.map(Some)
    }

    /// Starts loading the metric in a task of its own, unless one already does.
    fn load_in_background<S>(self: &Arc<Self>, store: &S, tenant_id: Uuid, metric: &str)
    where
        S: LimitStore + NotificationStore + Clone + Send + Sync + 'static,
    {
        let key = (tenant_id, metric.to_owned());
        let started = self
            .pending
            .lock()
            .map(|mut pending| pending.len() < Self::MAX_PENDING && pending.insert(key.clone()))
            .unwrap_or(false);
        if !started {
            return;
        }
        let (cache, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            let _guard = cache.loading.lock().await;
            // One the cache could not hold is read from the store each time instead.
            let loaded = match store.limits_fingerprint(key.0, &key.1).await {
                Ok((count, _))
                    if usize::try_from(count).unwrap_or(usize::MAX) > cache.max_limits =>
                {
                    Ok(())
                }
                Ok(_) => cache.load(&store, key.0, &key.1).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = loaded {
                tracing::warn!(error = %e, "loading a metric's limits in the background failed");
            }
            if let Ok(mut pending) = cache.pending.lock() {
                pending.remove(&key);
            }
        });
    }

    /// Loads (or revalidates) the metric's limits and caches them; the caller holds `loading`.
    async fn load(
        &self,
        store: &(impl LimitStore + NotificationStore),
        tenant_id: Uuid,
        metric: &str,
    ) -> Result<Arc<MetricLimits>> {
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
                Arc::new(index::read(store, tenant_id, metric, fingerprint.0).await?)
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
            pending: std::sync::Mutex::default(),
            direct_above: Self::DIRECT_ABOVE,
            direct_reads: Flights::default(),
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
mod tests;
