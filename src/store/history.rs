//! Usage history ([`crate::domain::history`]): the counters of ended periods, read a page at a
//! time. The SQL is the same in both dialects; [`history_store!`] expands it for a backend.

use uuid::Uuid;

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::history::{EndedCounter, HistoryStore};

/// Implements [`HistoryStore`] for a backend struct with a `pool` field.
macro_rules! history_store {
    ($store:ty) => {
        impl $crate::domain::history::HistoryStore for $store {
            async fn ended_counters(
                &self,
                tenant_id: Uuid,
                limit_id: &str,
                from: i64,
                to: i64,
                now: i64,
                after: Option<(i64, String)>,
                max: i64,
            ) -> Result<Vec<$crate::domain::history::EndedCounter>> {
                let (after_start, after_per) = match after {
                    Some((start, per)) => (Some(start), per),
                    None => (None, String::new()),
                };
                let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
                    "SELECT period_start, period_end, per_value, used FROM counters \
                     WHERE tenant_id = $1 AND limit_id = $2 AND period_start >= $3 \
                     AND period_start < $4 AND period_end <= $5 \
                     AND ($6 IS NULL OR period_start > $6 OR (period_start = $6 AND per_value > $7)) \
                     ORDER BY period_start, per_value LIMIT $8",
                )
                .bind(tenant_id)
                .bind(limit_id)
                .bind(from)
                .bind(to)
                .bind(now)
                .bind(after_start)
                .bind(after_per)
                .bind(max)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(period_start, period_end, per_value, used)| {
                        $crate::domain::history::EndedCounter {
                            period_start,
                            period_end,
                            per_value,
                            used,
                        }
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use history_store;

impl HistoryStore for AnyStore {
    async fn ended_counters(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        from: i64,
        to: i64,
        now: i64,
        after: Option<(i64, String)>,
        max: i64,
    ) -> Result<Vec<EndedCounter>> {
        dispatch!(self, s => s.ended_counters(tenant_id, limit_id, from, to, now, after, max))
    }
}
