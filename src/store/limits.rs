//! Limits, their counters and the usage engine's batches.
//!
//! The SQL both dialects share, expanded for a backend by [`limit_store!`] beside `shared_store!`,
//! whose row readers it uses; with the steps of a batch (`batch_steps`).

/// Implements [`crate::domain::ports::LimitStore`] for a backend struct with a `pool` field.
macro_rules! limit_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::LimitStore for $store {
            async fn count_limits(&self, tenant_id: Uuid) -> Result<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM limits WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn insert_limit(&self, l: &Limit) -> Result<bool> {
                let selector = serde_json::to_string(l.selector.as_map())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let window = serde_json::to_string(&l.window.spec())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let per = serde_json::to_string(&l.per).map_err(|e| Error::Internal(e.to_string()))?;
                let inserted = sqlx::query(
                    "INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, \
                     blocking, owner, created_at, updated_at, per) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                )
                .bind(l.tenant_id)
                .bind(&l.id)
                .bind(&selector)
                .bind(&l.metric)
                .bind(l.amount.to_stored())
                .bind(&window)
                .bind(l.blocking)
                .bind(&l.owner)
                .bind(l.created_at)
                .bind(l.updated_at)
                .bind(&per)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                Ok(inserted > 0)
            }

            async fn put_limit(&self, l: &Limit) -> Result<bool> {
                if self.insert_limit(l).await? {
                    return Ok(true);
                }
                let selector = serde_json::to_string(l.selector.as_map())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let window = serde_json::to_string(&l.window.spec())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let per = serde_json::to_string(&l.per).map_err(|e| Error::Internal(e.to_string()))?;
                sqlx::query(
                    "UPDATE limits SET selector = $3, metric = $4, amount = $5, window_spec = $6, \
                     blocking = $7, owner = $8, updated_at = $9, per = $10 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(l.tenant_id)
                .bind(&l.id)
                .bind(&selector)
                .bind(&l.metric)
                .bind(l.amount.to_stored())
                .bind(&window)
                .bind(l.blocking)
                .bind(&l.owner)
                .bind(l.updated_at)
                .bind(&per)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(false)
            }

            async fn limit(&self, tenant_id: Uuid, id: &str) -> Result<Option<Limit>> {
                sqlx::query(&format!("{LIMIT_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| limit_from(&r))
                    .transpose()
            }

            async fn limits(&self, tenant_id: Uuid) -> Result<Vec<Limit>> {
                sqlx::query(&format!("{LIMIT_COLUMNS} WHERE tenant_id = $1 ORDER BY id"))
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .filter_map(|r| readable(limit_from(r), "limit"))
                    .collect()
            }

            async fn limits_fingerprint(
                &self,
                tenant_id: Uuid,
                metric: &str,
            ) -> Result<(i64, Option<String>)> {
                sqlx::query_as(
                    "SELECT COUNT(*), CAST(MAX(updated_at) AS TEXT) FROM limits \
                     WHERE tenant_id = $1 AND metric = $2",
                )
                .bind(tenant_id)
                .bind(metric)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn limits_of_metric(&self, tenant_id: Uuid, metric: &str) -> Result<Vec<Limit>> {
                sqlx::query(&format!(
                    "{LIMIT_COLUMNS} WHERE tenant_id = $1 AND metric = $2 ORDER BY id"
                ))
                .bind(tenant_id)
                .bind(metric)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(limit_from(r), "limit"))
                .collect()
            }

            async fn delete_limit(&self, tenant_id: Uuid, id: &str) -> Result<bool> {
                sqlx::query("DELETE FROM limits WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected() > 0)
                    .map_err(db_error)
            }

            async fn counter_values(&self, keys: &[CounterKey]) -> Result<HashMap<CounterKey, i64>> {
                Self::read_counters(&self.pool, keys).await
            }

            fn batch_lanes(&self) -> usize {
                Self::BATCH_LANES
            }

            async fn counter_rows(
                &self,
                keys: &[CounterKey],
            ) -> Result<HashMap<CounterKey, CounterRow>> {
                Self::read_counter_rows(&self.pool, keys).await
            }

            async fn run_batch(
                &self,
                reads: &BatchReads,
                decide: &mut (dyn FnMut(&BatchState) -> BatchWrites + Send),
            ) -> Result<()> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let mut state = BatchState::default();
                if reads.expire_leases {
                    batch_steps::expire_leases(&mut tx, reads.now_ms).await?;
                }
                for &(tenant_id, lease_id) in &reads.releases {
                    if batch_steps::release_lease(&mut tx, tenant_id, lease_id).await? {
                        state.released.insert((tenant_id, lease_id));
                    }
                }
                state.counters = Self::lock_counters(&mut tx, reads, reads.now_ms).await?;
                for key in &reads.notified {
                    batch_steps::fired_thresholds(&mut tx, key, &mut state.fired).await?;
                }
                for key in &reads.idempotency {
                    if let Some(record) =
                        batch_steps::idempotency_record(&mut tx, key, reads.now_ms).await?
                    {
                        state.idempotency.insert(key.clone(), record);
                    }
                }
                let writes = decide(&state);
                Self::write_counters(&mut tx, &writes.counters, reads.now_ms).await?;
                for lease in &writes.leases {
                    batch_steps::insert_lease(&mut tx, lease).await?;
                }
                for (key, record, expires_at) in &writes.idempotency {
                    batch_steps::remember(&mut tx, key, record, *expires_at).await?;
                }
                for due in &writes.outbox {
                    batch_steps::enqueue(&mut tx, due, reads.now_ms).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn sweep(&self, now_ms: i64, thorough: bool) -> Result<()> {
                // Look before taking the write lock: the engine's batches need it far more often.
                let expired: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM leases WHERE expires_at <= $1 LIMIT 1")
                        .bind(now_ms)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?;
                if expired.is_some() {
                    let mut tx = Self::begin_batch(&self.pool).await?;
                    batch_steps::expire_leases(&mut tx, now_ms).await?;
                    tx.commit().await.map_err(db_error)?;
                }
                if !thorough {
                    return Ok(());
                }
                sqlx::query("DELETE FROM idempotency WHERE expires_at <= $1")
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                // Counters and the outbox follow `RetentionStore::sweep_retained`.
                Ok(())
            }
        }

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
                Ok(!rows.is_empty())
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
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT notification_id, MAX(threshold) FROM notification_outbox \
                     WHERE tenant_id = $1 AND limit_id = $2 AND period_start = $3 \
                     GROUP BY notification_id",
                )
                .bind(key.tenant_id)
                .bind(&key.limit_id)
                .bind(key.period_start)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
                for (id, threshold) in rows {
                    fired.insert((key.clone(), id), threshold);
                }
                Ok(())
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
                     next_attempt_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(due.id)
                .bind(due.tenant_id)
                .bind(&due.limit_id)
                .bind(&due.notification_id)
                .bind(&due.call_url)
                .bind(&due.metric)
                .bind(due.period_start)
                .bind(due.period_end)
                .bind(due.threshold)
                .bind(due.usage)
                .bind(now_ms)
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

pub(crate) use limit_store;
