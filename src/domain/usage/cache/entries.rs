//! What the limit cache holds, with the totals its bounds apply to, and how it evicts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::MetricLimits;

/// What the cache holds: tenant -> metric -> limits (nested, so a look-up by `&str` allocates
/// nothing), with the totals its bounds apply to.
#[derive(Default)]
pub(super) struct Entries {
    pub(super) by_tenant: HashMap<Uuid, HashMap<String, Arc<MetricLimits>>>,
    pub(super) metrics: usize,
    pub(super) limits: usize,
}

impl Entries {
    pub(super) fn get(&self, tenant_id: &Uuid) -> Option<&HashMap<String, Arc<MetricLimits>>> {
        self.by_tenant.get(tenant_id)
    }

    pub(super) fn insert(&mut self, tenant_id: Uuid, metric: String, loaded: Arc<MetricLimits>) {
        self.limits += loaded.index.limits.len();
        self.metrics += 1;
        if let Some(old) = self
            .by_tenant
            .entry(tenant_id)
            .or_default()
            .insert(metric, loaded)
        {
            self.limits -= old.index.limits.len();
            self.metrics -= 1;
        }
    }

    pub(super) fn remove(&mut self, tenant_id: &Uuid, metric: &str) {
        let Some(metrics) = self.by_tenant.get_mut(tenant_id) else {
            return;
        };
        if let Some(old) = metrics.remove(metric) {
            self.limits -= old.index.limits.len();
            self.metrics -= 1;
        }
        if metrics.is_empty() {
            self.by_tenant.remove(tenant_id);
        }
    }

    /// Forgets what `keep` rejects; how many metrics were forgotten.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&MetricLimits) -> bool) -> usize {
        let before = self.metrics;
        for metrics in self.by_tenant.values_mut() {
            metrics.retain(|_, limits| keep(limits));
        }
        self.by_tenant.retain(|_, metrics| !metrics.is_empty());
        self.metrics = self.by_tenant.values().map(HashMap::len).sum();
        self.limits = self
            .by_tenant
            .values()
            .flat_map(HashMap::values)
            .map(|l| l.index.limits.len())
            .sum();
        before - self.metrics
    }

    /// Evicts the metrics checked longest ago until at most `target` limits are held.
    pub(super) fn evict_to(&mut self, target: usize) -> usize {
        if self.limits <= target {
            return 0;
        }
        let mut ages: Vec<(Instant, usize)> = self
            .by_tenant
            .values()
            .flat_map(HashMap::values)
            .map(|l| (l.checked, l.index.limits.len()))
            .collect();
        ages.sort_unstable_by_key(|(checked, _)| *checked);
        let mut held = self.limits;
        let mut cutoff = None;
        for (checked, size) in ages {
            if held <= target {
                break;
            }
            held -= size;
            cutoff = Some(checked);
        }
        match cutoff {
            Some(cutoff) => self.retain(|l| l.checked > cutoff),
            None => 0,
        }
    }

    pub(super) fn publish(&self) {
        metrics::gauge!("quotaplane_engine_limit_cache_metrics").set(self.metrics as f64);
        metrics::gauge!("quotaplane_engine_limit_cache_limits").set(self.limits as f64);
        metrics::gauge!("quotaplane_cache_entries", "cache" => "limits").set(self.metrics as f64);
    }
}

pub(super) fn evicted(reason: &'static str, metrics: usize) {
    metrics::counter!("quotaplane_engine_limit_cache_evictions_total", "reason" => reason)
        .increment(metrics as u64);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::MetricIndex;
    use super::*;
    use crate::domain::limit::{Limit, Subject};

    fn metric_of(size: usize) -> Arc<MetricLimits> {
        let now = chrono::Utc::now();
        let limits = (0..size)
            .map(|i| Limit {
                id: format!("l{i}"),
                tenant_id: Uuid::nil(),
                selector: Subject::of([("user", "u")]),
                metric: "m".into(),
                amount: crate::domain::limit::Amount::Limited(1),
                window: crate::domain::window::Window::None,
                blocking: true,
                owner: None,
                per: Vec::new(),
                family: None,
                expires_at: None,
                mode: crate::domain::limit::Mode::Enforce,
                created_at: now,
                updated_at: now,
            })
            .collect();
        Arc::new(MetricLimits {
            checked: Instant::now(),
            fingerprint: (0, None),
            index: Arc::new(MetricIndex::build(limits, Vec::new())),
        })
    }

    #[test]
    fn past_the_limits_bound_the_metrics_checked_longest_ago_are_evicted_first() {
        let mut entries = Entries::default();
        let tenant = Uuid::new_v4();
        for (name, size) in [("oldest", 4), ("older", 3), ("newest", 2)] {
            entries.insert(tenant, name.into(), metric_of(size));
            std::thread::sleep(Duration::from_millis(2));
        }
        entries.insert(tenant, "newest".into(), metric_of(2));
        assert_eq!(
            (entries.metrics, entries.limits),
            (3, 9),
            "a replaced metric counts once"
        );
        assert_eq!(entries.evict_to(5), 1);
        assert_eq!((entries.metrics, entries.limits), (2, 5));
        let held = entries.get(&tenant).expect("tenant");
        assert!(held.contains_key("older") && held.contains_key("newest"));
        entries.remove(&tenant, "older");
        entries.remove(&tenant, "newest");
        assert_eq!((entries.metrics, entries.limits), (0, 0));
        assert!(entries.by_tenant.is_empty(), "no empty tenant map is kept");
    }
}
