//! Effective limits: which of a tenant's limits apply to a subject and metric now, which are
//! replaced and by what, each with the subject's current usage.

use std::sync::Arc;

use uuid::Uuid;

use super::batch::CounterKey;
use super::{CachedLimit, Engine, LimitStatus};
use crate::domain::Result;
use crate::domain::limit::Subject;
use crate::domain::ports::*;
use crate::domain::precedence::{self, Standing};

/// One matching limit, as it stands for a subject.
#[derive(Debug, Clone)]
pub struct Effective {
    pub limit: Arc<CachedLimit>,
    pub standing: Standing,
    /// The subject's usage of it in the current period (its own counter for a `per` limit).
    pub status: LimitStatus,
}

impl<S: EngineStore> Engine<S> {
    /// The limits of `tenant_id` that match `subject` and `metric` and have not expired: those
    /// that apply, then those replaced, each with the subject's usage now.
    pub async fn effective(
        &self,
        tenant_id: Uuid,
        subject: &Subject,
        metric: &str,
    ) -> Result<Vec<Effective>> {
        let now = self.clock.now();
        let subject = &crate::domain::waldur::canonical_subject(metric, subject.clone());
        let found = self
            .limits
            .matching(&self.store, tenant_id, subject, metric)
            .await?;
        let (applying, replaced) = precedence::resolve(found, now, |l| &**l);
        let standings = applying
            .into_iter()
            .map(|limit| (limit, Standing::Applies))
            .chain(
                replaced
                    .into_iter()
                    .map(|(limit, by)| (limit, Standing::ReplacedBy(by))),
            );
        let standings: Vec<(Arc<CachedLimit>, Standing)> = standings.collect();
        let keys: Vec<CounterKey> = standings
            .iter()
            .map(|(limit, _)| CounterKey {
                tenant_id,
                limit_id: limit.id.to_string(),
                per_value: limit.partition(subject),
                period_start: limit.shape.window.period_start(now).timestamp_millis(),
            })
            .collect();
        let used = self.store.counter_values(&keys).await?;
        Ok(standings
            .into_iter()
            .zip(keys)
            .map(|((limit, standing), key)| {
                let status = limit.status(used.get(&key).copied().unwrap_or(0), now);
                Effective {
                    limit,
                    standing,
                    status,
                }
            })
            .collect())
    }
}
