//! The steps of a usage batch that are the same SQL in both dialects, expanded for a backend by
//! [`batch_steps!`] beside `limit_store!`, which runs them in a batch's transaction.

/// Defines the `batch_steps` module for a backend whose database type is `$db` and row `$row`.
macro_rules! batch_steps {
    ($db:ty, $row:ty) => {
        /// The steps of a batch that are the same SQL in both dialects.
        mod batch_steps {
            use super::*;

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// Gives back the units of leases past their expiry.
            pub async fn expire_leases(tx: &mut Tx<'_>, now_ms: i64) -> Result<()> {
                let rows = sqlx::query(
                    "DELETE FROM leases WHERE expires_at <= $1 \
                     RETURNING tenant_id, limit_id, per_value, period_start, amount",
                )
                .bind(now_ms)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
                sqlx::query("DELETE FROM lease_grants WHERE expires_at <= $1")
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                give_back(tx, &rows).await
            }

            /// Releases one lease; false when the tenant has no such lease.
            pub async fn release_lease(tx: &mut Tx<'_>, tenant_id: Uuid, lease_id: Uuid) -> Result<bool> {
                let rows = sqlx::query(
                    "DELETE FROM leases WHERE tenant_id = $1 AND id = $2 \
                     RETURNING tenant_id, limit_id, per_value, period_start, amount",
                )
                .bind(tenant_id)
                .bind(lease_id)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
                give_back(tx, &rows).await?;
                let granted = sqlx::query("DELETE FROM lease_grants WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(lease_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                // A lease from before its grant was recorded has only its units.
                Ok(granted.rows_affected() > 0 || !rows.is_empty())
            }

            async fn give_back(tx: &mut Tx<'_>, rows: &[$row]) -> Result<()> {
                use sqlx::Row;
                for row in rows {
                    sqlx::query(
                        "UPDATE counters SET used = CASE WHEN used > $4 THEN used - $4 ELSE 0 END \
                         WHERE tenant_id = $1 AND limit_id = $2 AND period_start = $3 \
                         AND per_value = $5",
                    )
                    .bind(row.try_get::<Uuid, _>("tenant_id").map_err(db_error)?)
                    .bind(row.try_get::<String, _>("limit_id").map_err(db_error)?)
                    .bind(row.try_get::<i64, _>("period_start").map_err(db_error)?)
                    .bind(row.try_get::<i64, _>("amount").map_err(db_error)?)
                    .bind(row.try_get::<String, _>("per_value").map_err(db_error)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            /// The first decision under a key, unless it has expired.
            pub async fn idempotency_record(
                tx: &mut Tx<'_>,
                key: &IdempotencyKey,
                now_ms: i64,
            ) -> Result<Option<IdempotencyRecord>> {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT request_hash, decision FROM idempotency \
                     WHERE tenant_id = $1 AND key = $2 AND expires_at > $3",
                )
                .bind(key.tenant_id)
                .bind(&key.key)
                .bind(now_ms)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(request_hash, decision)| IdempotencyRecord { request_hash, decision }))
            }

            /// Keeps a first decision (replacing an expired record under the same key).
            pub async fn remember(
                tx: &mut Tx<'_>,
                key: &IdempotencyKey,
                record: &IdempotencyRecord,
                expires_at: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO idempotency (tenant_id, key, request_hash, decision, expires_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO UPDATE SET \
                     request_hash = excluded.request_hash, decision = excluded.decision, \
                     expires_at = excluded.expires_at",
                )
                .bind(key.tenant_id)
                .bind(&key.key)
                .bind(&record.request_hash)
                .bind(&record.decision)
                .bind(expires_at)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// What each notification rule of a counter's limit already fired at in its period.
            pub async fn fired_thresholds(
                tx: &mut Tx<'_>,
                key: &CounterKey,
                fired: &mut HashMap<(CounterKey, String), i64>,
            ) -> Result<()> {
                // Alert rows keep their rule id in `rule_id` (`notification_id` is their unique
                // key); ZITADEL rows in `notification_id`.
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT COALESCE(rule_id, notification_id), MAX(threshold) \
                     FROM notification_outbox \
                     WHERE tenant_id = $1 AND limit_id = $2 AND period_start = $3 \
                     AND per_value = $4 GROUP BY COALESCE(rule_id, notification_id)",
                )
                .bind(key.tenant_id)
                .bind(&key.limit_id)
                .bind(key.period_start)
                .bind(&key.per_value)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
                for (id, threshold) in rows {
                    fired.insert((key.clone(), id), threshold);
                }
                Ok(())
            }

            /// The usage of `key`'s counter in the period starting at `start` (0 when none).
            pub async fn previous_usage(tx: &mut Tx<'_>, key: &CounterKey, start: i64) -> Result<i64> {
                let used: Option<i64> = sqlx::query_scalar(
                    "SELECT used FROM counters WHERE tenant_id = $1 AND limit_id = $2 \
                     AND per_value = $3 AND period_start = $4",
                )
                .bind(key.tenant_id)
                .bind(&key.limit_id)
                .bind(&key.per_value)
                .bind(start)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(used.unwrap_or(0))
            }

            /// Writes a due notification to the outbox, once per rule, period and threshold.
            pub async fn enqueue(
                tx: &mut Tx<'_>,
                due: &crate::domain::notification::DueNotification,
                now_ms: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO notification_outbox (id, tenant_id, limit_id, notification_id, \
                     call_url, metric, period_start, period_end, threshold, usage, status, attempts, \
                     next_attempt_at, created_at, updated_at, kind, rule_id, per_value, target_id, \
                     payload) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11, \
                     $12, $13, $14, $15, $16) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(due.id)
                .bind(due.tenant_id)
                .bind(&due.limit_id)
                .bind(due.outbox_key())
                .bind(&due.call_url)
                .bind(&due.metric)
                .bind(due.period_start)
                .bind(due.period_end)
                .bind(due.threshold)
                .bind(due.usage)
                .bind(now_ms)
                .bind(due.kind.as_str())
                .bind((due.kind != crate::domain::notification::EventKind::Zitadel)
                    .then_some(&due.notification_id))
                .bind(&due.per_value)
                .bind(due.target_id)
                .bind(&due.payload)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Records a lease granted.
            pub async fn insert_grant(
                tx: &mut Tx<'_>,
                tenant_id: Uuid,
                lease_id: Uuid,
                expires_at: i64,
            ) -> Result<()> {
                sqlx::query("INSERT INTO lease_grants (tenant_id, id, expires_at) VALUES ($1, $2, $3)")
                    .bind(tenant_id)
                    .bind(lease_id)
                    .bind(expires_at)
                    .execute(&mut **tx)
                    .await
                    .map(drop)
                    .map_err(db_error)
            }

            /// Records what a lease holds of one counter.
            pub async fn insert_lease(tx: &mut Tx<'_>, lease: &LeaseRow) -> Result<()> {
                sqlx::query(
                    "INSERT INTO leases \
                     (tenant_id, id, limit_id, period_start, amount, expires_at, per_value) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(lease.tenant_id)
                .bind(lease.lease_id)
                .bind(&lease.counter.limit_id)
                .bind(lease.counter.period_start)
                .bind(lease.amount)
                .bind(lease.expires_at_ms)
                .bind(&lease.counter.per_value)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }
        }
    };
}

pub(crate) use batch_steps;
