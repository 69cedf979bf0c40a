//! Retention ([`crate::domain::retention`]): what the sweep dead-letters and deletes. The SQL is
//! the same in both dialects; [`retention_store!`] expands it for a backend.

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::retention::{Retention, RetentionStore, Swept};

/// Implements [`RetentionStore`] for a backend struct with a `pool` field.
macro_rules! retention_store {
    ($store:ty) => {
        impl $crate::domain::retention::RetentionStore for $store {
            async fn sweep_retained(
                &self,
                now_ms: i64,
                retention: &$crate::domain::retention::Retention,
            ) -> Result<$crate::domain::retention::Swept> {
                use $crate::domain::usage::batch::NEVER;
                let ms = |d: chrono::TimeDelta| d.num_milliseconds();
                let run = |sql: &'static str| sqlx::query(sql);
                // A windowed counter is kept one more window's length past its period's end,
                // plus the margin. Only ended periods are looked at, so the arithmetic stays
                // within range for `window: none` counters (whose period never ends).
                // It is also the limit's usage history: kept the history retention past its
                // period's end, long for windows of a day or more, short for shorter ones.
                let counters = run(
                    "DELETE FROM counters WHERE period_end < $1 AND CASE WHEN period_end < $1 \
                     THEN period_end + (period_end - period_start) < $1 - $2 \
                     AND period_end < $1 - CASE WHEN period_end - period_start >= $3 \
                     THEN $4 ELSE $5 END ELSE FALSE END",
                )
                .bind(now_ms)
                .bind(ms(retention.counter_margin))
                .bind(ms($crate::domain::history::LONG_WINDOW))
                .bind(ms(retention.history_long))
                .bind(ms(retention.history_short))
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                // Once no longer readable as the previous period, an ended period keeps at most
                // the bound's number of `per` partitions as history: those that used the most.
                let partitions = run(
                    "DELETE FROM counters WHERE (tenant_id, limit_id, per_value, period_start) IN \
                     (SELECT tenant_id, limit_id, per_value, period_start FROM \
                      (SELECT tenant_id, limit_id, per_value, period_start, ROW_NUMBER() OVER \
                       (PARTITION BY tenant_id, limit_id, period_start \
                        ORDER BY used DESC, per_value) AS place \
                       FROM counters WHERE per_value <> '' AND period_end < $1 \
                       AND CASE WHEN period_end < $1 \
                       THEN period_end + (period_end - period_start) < $1 - $2 ELSE FALSE END) \
                      AS ranked WHERE place > $3)",
                )
                .bind(now_ms)
                .bind(ms(retention.counter_margin))
                .bind(retention.history_partitions)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                // A partition of a `window: none` limit back at 0 and idle: a missing counter
                // reads 0, and the usage batches recreate one when they write it.
                let idle_partitions = run(
                    "DELETE FROM counters WHERE period_end = $1 AND per_value <> '' \
                     AND used = 0 AND updated_at < $2",
                )
                .bind(NEVER)
                .bind(now_ms.saturating_sub(ms(retention.idle_partition)))
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                let dead_lettered = run(
                    "UPDATE notification_outbox SET status = 'dead', updated_at = $1, \
                     last_error = COALESCE(last_error, 'gave up') \
                     WHERE status = 'pending' AND (attempts >= $2 OR created_at < $3)",
                )
                .bind(now_ms)
                .bind(retention.outbox_max_attempts)
                .bind(now_ms.saturating_sub(ms(retention.outbox_max_age)))
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                // A row's period must have ended too: while it runs, the row is what says its
                // threshold already fired (so it does not fire twice).
                let outbox = run("DELETE FROM notification_outbox WHERE status <> 'pending' \
                     AND updated_at < $1 AND period_end < $2")
                .bind(now_ms.saturating_sub(ms(retention.outbox_retention)))
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                let audit = run("DELETE FROM audit_log WHERE at < $1")
                    .bind(now_ms.saturating_sub(ms(retention.audit)))
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                Ok($crate::domain::retention::Swept {
                    partitions,
                    audit,
                    counters,
                    idle_partitions,
                    dead_lettered,
                    outbox,
                })
            }
        }
    };
}

pub(crate) use retention_store;

impl RetentionStore for AnyStore {
    async fn sweep_retained(&self, now_ms: i64, retention: &Retention) -> Result<Swept> {
        dispatch!(self, s => s.sweep_retained(now_ms, retention))
    }
}
