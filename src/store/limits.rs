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

            async fn insert_limit(
                &self,
                l: &Limit,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let created = limit_steps::insert(&mut *tx, l).await?;
                if created {
                    audit_steps::append(&mut *tx, audit).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(created)
            }

            async fn put_limit(
                &self,
                l: &Limit,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let created = limit_steps::insert(&mut *tx, l).await?;
                if !created {
                    limit_steps::update(&mut *tx, l).await?;
                }
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(created)
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

            async fn delete_limit(
                &self,
                tenant_id: Uuid,
                id: &str,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let deleted = sqlx::query("DELETE FROM limits WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map(|done| done.rows_affected() > 0)
                    .map_err(db_error)?;
                if deleted {
                    audit_steps::append(&mut *tx, audit).await?;
                    tx.commit().await.map_err(db_error)?;
                }
                Ok(deleted)
            }

            async fn count_open_leases(&self, tenant_id: Uuid, now_ms: i64) -> Result<i64> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM lease_grants WHERE tenant_id = $1 AND expires_at > $2",
                )
                .bind(tenant_id)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await
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
                for (key, start) in &reads.previous {
                    let used = batch_steps::previous_usage(&mut tx, key, *start).await?;
                    state.previous.insert(key.clone(), (*start, used));
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
                for &(tenant_id, lease_id, expires_at) in &writes.granted {
                    batch_steps::insert_grant(&mut tx, tenant_id, lease_id, expires_at).await?;
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
                    sqlx::query_scalar("SELECT 1 FROM lease_grants WHERE expires_at <= $1 \
                                        UNION ALL SELECT 1 FROM leases WHERE expires_at <= $1 \
                                        LIMIT 1")
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

pub(crate) use limit_store;
