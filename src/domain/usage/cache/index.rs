//! One metric's cached limits, indexed for matching, and their read from the store into the
//! index; and the same answer read from the store while a metric is not loaded yet.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::compact::{CachedLimit, Interner};
use crate::domain::Result;
use crate::domain::limit::{Limit, Subject};
use crate::domain::notification::Notification;
use crate::domain::ports::*;

/// One metric's limits in their compact form, sorted by the first pair of their selector (those
/// with an empty selector first), so the limits a subject's pair can select are one range found
/// by binary search: the index costs no memory beyond the list itself.
pub(super) struct MetricIndex {
    pub(super) limits: Vec<Arc<CachedLimit>>,
    /// How many limits (at the front) have an empty selector: they apply to every subject.
    everyone: usize,
}

/// Builds a [`MetricIndex`] one limit at a time, each compacted as it comes: a large metric's
/// limits are never all held in their full form at once.
pub(super) struct IndexBuilder {
    rules: HashMap<String, Vec<Notification>>,
    interner: Interner,
    limits: Vec<Arc<CachedLimit>>,
}

impl IndexBuilder {
    /// A builder for limits whose notification rules are among `rules` (limit id, rule).
    pub(super) fn new(rules: Vec<(String, Notification)>) -> Self {
        let mut grouped: HashMap<String, Vec<Notification>> = HashMap::new();
        for (limit_id, rule) in rules {
            grouped.entry(limit_id).or_default().push(rule);
        }
        Self {
            rules: grouped,
            interner: Interner::default(),
            limits: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, limit: Limit) {
        let rules = self.rules.remove(&limit.id);
        self.limits
            .push(Arc::new(self.interner.compact(limit, rules)));
    }

    /// The index: CPU work for a large metric (a sort), so callers keep it off async workers.
    pub(super) fn finish(self) -> MetricIndex {
        let mut compact = self.limits;
        compact.sort_by(|a, b| a.selector().first().cmp(&b.selector().first()));
        compact.shrink_to_fit();
        let everyone = compact.partition_point(|l| l.selector().is_empty());
        MetricIndex {
            limits: compact,
            everyone,
        }
    }
}

impl MetricIndex {
    pub(super) fn build(limits: Vec<Limit>, rules: Vec<(String, Notification)>) -> Self {
        let mut builder = IndexBuilder::new(rules);
        limits.into_iter().for_each(|limit| builder.add(limit));
        builder.finish()
    }

    pub(super) fn matching(&self, subject: &Subject) -> Vec<Arc<CachedLimit>> {
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

/// Reads the metric's `count` limits (as the fingerprint counted them) and indexes them.
pub(super) async fn read(
    store: &(impl LimitStore + NotificationStore),
    tenant_id: Uuid,
    metric: &str,
    count: i64,
) -> Result<MetricIndex> {
    if count == 0 {
        // No limits to read, nor rules for them.
        return Ok(MetricIndex::build(Vec::new(), Vec::new()));
    }
    let rules = store.notification_rules(tenant_id).await?;
    // Each limit is compacted as it is read, on a thread of its own: 100,000 limits in their
    // full form would take several times the memory of the cache they become, all at once,
    // and the cache is allocated densely, apart from the full forms that come and go.
    // Indexing is CPU work, kept off the async workers.
    let (sender, received) = std::sync::mpsc::channel::<Limit>();
    let compacting = tokio::task::spawn_blocking(move || {
        let mut builder = IndexBuilder::new(rules);
        received.iter().for_each(|limit| builder.add(limit));
        builder.finish()
    });
    let read = store
        .each_limit_of_metric(tenant_id, metric, |limit| {
            // Only fails once the compacting thread has gone, answered below.
            let _ = sender.send(limit);
        })
        .await;
    drop(sender);
    let index = compacting
        .await
        .map_err(|e| crate::domain::Error::Internal(format!("indexing limits: {e}")))?;
    read?;
    Ok(index)
}

/// The limits of the metric that apply to `subject`, read from the store (only the rows that may
/// select it), with their rules: the same answer a loaded cache entry gives.
pub(super) async fn direct(
    store: &(impl LimitStore + NotificationStore),
    tenant_id: Uuid,
    subject: &Subject,
    metric: &str,
) -> Result<Vec<Arc<CachedLimit>>> {
    let limits: Vec<Limit> = store
        .limits_selecting(tenant_id, metric, subject)
        .await?
        .into_iter()
        .filter(|l| l.metric == metric && l.selector.selects(subject))
        .collect();
    let rules = if limits.is_empty() {
        Vec::new()
    } else {
        store.notification_rules(tenant_id).await?
    };
    Ok(MetricIndex::build(limits, rules).matching(subject))
}
