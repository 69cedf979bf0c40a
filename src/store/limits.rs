//! Limits, their counters and the usage engine's batches.
//!
//! The SQL both dialects share, expanded for a backend by [`limit_store!`] beside `shared_store!`,
//! whose row readers it uses; the steps of a batch are in [`super::batch_steps`].

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
                    limit_steps::put(&mut *tx, l).await?;
                }
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(created)
            }

            async fn limit(&self, tenant_id: Uuid, id: &str) -> Result<Option<Limit>> {
                self.by_id(LIMIT_COLUMNS, tenant_id, id, limit_from).await
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

            async fn count_limits_upto(
                &self,
                tenant_id: Uuid,
                metric: &str,
                most: i64,
            ) -> Result<i64> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM limits \
                     WHERE tenant_id = $1 AND metric = $2 LIMIT $3) AS counted",
                )
                .bind(tenant_id)
                .bind(metric)
                .bind(most)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn each_limit_of_metric<F: FnMut(Limit) + Send>(
                &self,
                tenant_id: Uuid,
                metric: &str,
                mut each: F,
            ) -> Result<()> {
                use futures_util::TryStreamExt;
                // Row by row: a metric may have 100,000 limits, and their rows all held at once
                // (SQLite's copies of each value, in the C allocator) would stay in the process's
                // memory long after they were read.
                let sql = format!("{LIMIT_COLUMNS} WHERE tenant_id = $1 AND metric = $2 ORDER BY id");
                let mut rows = sqlx::query(&sql).bind(tenant_id).bind(metric).fetch(&self.pool);
                while let Some(row) = rows.try_next().await.map_err(db_error)? {
                    if let Some(limit) = readable(limit_from(&row), "limit") {
                        each(limit?);
                    }
                    // Rows already buffered are handed over without a wait, so without this
                    // the loop would keep its worker thread (and the requests queued on it)
                    // for the whole metric: hundreds of milliseconds at 100,000 limits.
                    tokio::task::consume_budget().await;
                }
                Ok(())
            }

            async fn limits_selecting(
                &self,
                tenant_id: Uuid,
                metric: &str,
                subject: &$crate::domain::limit::Subject,
            ) -> Result<Vec<Limit>> {
                // One that selects the subject is empty or holds one of the subject's pairs:
                // one index look-up in `limit_selector_pairs` per pair (an empty selector is the
                // pair of an empty key and value; a key is never empty), joined by `UNION ALL`
                // (an `OR` would walk the metric's pairs), then each limit by its key. The
                // limits' own metric is not named, so no planner walks the metric's limits
                // instead: the pairs' metric is the limit's. Only placeholders are added.
                let mut sql = format!(
                    "{LIMIT_COLUMNS} WHERE tenant_id = $1 AND id IN (SELECT limit_id \
                     FROM limit_selector_pairs WHERE tenant_id = $1 AND metric = $2 \
                     AND key = '' AND value = ''"
                );
                let pairs: Vec<(&str, &str)> = subject.pairs().collect();
                for n in 0..pairs.len() {
                    sql.push_str(&format!(
                        " UNION ALL SELECT limit_id FROM limit_selector_pairs WHERE tenant_id = $1 \
                         AND metric = $2 AND key = ${} AND value = ${}",
                        2 * n + 3,
                        2 * n + 4
                    ));
                }
                sql.push(')');
                let mut query = sqlx::query(&sql).bind(tenant_id).bind(metric);
                for (key, value) in pairs {
                    query = query.bind(key).bind(value);
                }
                let mut found: Vec<Limit> = query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .filter_map(|r| readable(limit_from(r), "limit"))
                    .collect::<Result<_>>()?;
                found.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(found)
            }

            async fn delete_limit(
                &self,
                tenant_id: Uuid,
                id: &str,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let delete = sqlx::query("DELETE FROM limits WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id);
                self.delete_audited(delete, audit).await
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
                let (mut tx, mut state, located) = match self.open_batch(reads, false).await? {
                    Some(opened) => opened,
                    // A counter to write was missing: again, making it first.
                    None => self.open_batch(reads, true).await?.ok_or_else(|| {
                        Error::Internal("a batch's counters were missing once made".into())
                    })?,
                };
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
                Self::write_counters(&mut tx, &located, &writes.counters, reads.now_ms).await?;
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

        impl $store {
            /// Begins a batch's transaction and takes its locks: partitions first (see
            /// `super::partitions`), leases, then the counters, read into the batch's state.
            /// `None` (rolled back) when a counter to write was missing and `again` was not set
            /// (see `lock_counters`).
            async fn open_batch(
                &self,
                reads: &BatchReads,
                again: bool,
            ) -> Result<Option<(Transaction<'static, $db>, BatchState, Located)>> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let mut state = BatchState::default();
                state.full_partitions = Self::claim_partitions(&mut tx, reads).await?;
                if reads.expire_leases {
                    batch_steps::expire_leases(&mut tx, reads.now_ms).await?;
                }
                for &(tenant_id, lease_id) in &reads.releases {
                    if batch_steps::release_lease(&mut tx, tenant_id, lease_id).await? {
                        state.released.insert((tenant_id, lease_id));
                    }
                }
                let locked = self
                    .lock_counters(&mut tx, reads, &state.full_partitions, again)
                    .await?;
                let Some((counters, located)) = locked else {
                    tx.rollback().await.map_err(db_error)?;
                    return Ok(None);
                };
                state.counters = counters;
                Ok(Some((tx, state, located)))
            }
        }
    };
}

pub(crate) use limit_store;
