//! The SQL both backends share, written once and expanded for each by [`shared_store!`].

/// Implements [`crate::store::Store`] for a backend struct with a `pool` field. The SQL here must
/// be valid in both PostgreSQL and SQLite; the row types (`Uuid`, `DateTime<Utc>`) are mapped by
/// sqlx to each dialect's columns (see the two migration folders).
macro_rules! shared_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::store::Store for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(db_error)
            }

            async fn insert_tenant(&self, t: &Tenant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                )
                .bind(t.id)
                .bind(t.name.as_str())
                .bind(t.created_at)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(db_error)
            }

            async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>> {
                sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| tenant_from(&r))
                    .transpose()
            }

            async fn tenants(&self) -> Result<Vec<Tenant>> {
                sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .filter_map(|r| readable(tenant_from(r), "tenant"))
                    .collect()
            }

            async fn tenant_named(&self, name: &str) -> Result<Option<Tenant>> {
                sqlx::query(
                    "SELECT id, name, created_at FROM tenants WHERE name = $1 \
                     ORDER BY created_at, id LIMIT 1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .map(|r| tenant_from(&r))
                .transpose()
            }

            async fn insert_key(&self, k: &ApiKey) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys \
                     (id, tenant_id, roles, user_id, description, secret_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(&k.id)
                .bind(k.tenant_id)
                .bind(k.roles.to_stored())
                .bind(k.user_id)
                .bind(&k.description)
                .bind(k.secret_hash.to_hex())
                .bind(k.created_at)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(db_error)
            }

            async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>> {
                sqlx::query(&format!("{KEY_COLUMNS} WHERE secret_hash = $1"))
                    .bind(hash.to_hex())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| key_from(&r))
                    .transpose()
            }

            async fn keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKey>> {
                sqlx::query(&format!(
                    "{KEY_COLUMNS} WHERE tenant_id = $1 ORDER BY created_at, id"
                ))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(key_from(r), "api key"))
                .collect()
            }

            async fn count_limits(&self, tenant_id: Uuid) -> Result<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM limits WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_keys(&self) -> Result<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
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

            async fn datarobot_quota(&self, tenant_id: Uuid, id: &str) -> Result<Option<Quota>> {
                sqlx::query(&format!("{QUOTA_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| quota_from(&r))
                    .transpose()
            }

            async fn datarobot_quota_for(
                &self,
                tenant_id: Uuid,
                resource_type: &str,
                resource_id: &str,
            ) -> Result<Option<Quota>> {
                sqlx::query(&format!(
                    "{QUOTA_COLUMNS} WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3"
                ))
                .bind(tenant_id)
                .bind(resource_type)
                .bind(resource_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .map(|r| quota_from(&r))
                .transpose()
            }

            async fn datarobot_quotas(
                &self,
                tenant_id: Uuid,
                filter: &QuotaFilter,
                page: Page,
            ) -> Result<(Vec<Quota>, i64)> {
                const MATCHING: &str = "WHERE tenant_id = $1 \
                    AND (CAST($2 AS TEXT) IS NULL OR resource_type = $2) \
                    AND (CAST($3 AS TEXT) IS NULL OR resource_id = $3)";
                let total: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM datarobot_quotas {MATCHING}"
                ))
                .bind(tenant_id)
                .bind(filter.resource_type.as_deref())
                .bind(filter.resource_id.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                let quotas = sqlx::query(&format!(
                    "{QUOTA_COLUMNS} {MATCHING} ORDER BY created_at, id LIMIT $4 OFFSET $5"
                ))
                .bind(tenant_id)
                .bind(filter.resource_type.as_deref())
                .bind(filter.resource_id.as_deref())
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(quota_from(r), "DataRobot quota"))
                .collect::<Result<Vec<_>>>()?;
                Ok((quotas, total))
            }

            async fn put_datarobot_template(&self, t: &Template) -> Result<bool> {
                let rules = to_json(&t.rules)?;
                let inserted = sqlx::query(
                    "INSERT INTO datarobot_quota_templates \
                     (tenant_id, id, name, rules, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(t.tenant_id)
                .bind(&t.id)
                .bind(&t.name)
                .bind(&rules)
                .bind(t.created_at)
                .bind(t.updated_at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
                if inserted > 0 {
                    return Ok(true);
                }
                sqlx::query(
                    "UPDATE datarobot_quota_templates SET name = $3, rules = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.tenant_id)
                .bind(&t.id)
                .bind(&t.name)
                .bind(&rules)
                .bind(t.updated_at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(false)
            }

            async fn datarobot_template(&self, tenant_id: Uuid, id: &str) -> Result<Option<Template>> {
                sqlx::query(&format!("{TEMPLATE_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| template_from(&r))
                    .transpose()
            }

            async fn datarobot_templates(
                &self,
                tenant_ids: [Uuid; 2],
                page: Page,
            ) -> Result<(Vec<Template>, i64)> {
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM datarobot_quota_templates WHERE tenant_id IN ($1, $2)",
                )
                .bind(tenant_ids[0])
                .bind(tenant_ids[1])
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                let templates = sqlx::query(&format!(
                    "{TEMPLATE_COLUMNS} WHERE tenant_id IN ($1, $2) \
                     ORDER BY created_at, id LIMIT $3 OFFSET $4"
                ))
                .bind(tenant_ids[0])
                .bind(tenant_ids[1])
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(template_from(r), "quota template"))
                .collect::<Result<Vec<_>>>()?;
                Ok((templates, total))
            }

            async fn delete_datarobot_template(&self, tenant_id: Uuid, id: &str) -> Result<bool> {
                sqlx::query("DELETE FROM datarobot_quota_templates WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected() > 0)
                    .map_err(db_error)
            }

            async fn put_service_quota_code(
                &self,
                code: &crate::domain::service_quota::QuotaCode,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool> {
                let existed: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM service_quota_codes WHERE code = $1")
                        .bind(&code.code)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)?;
                sqlx::query(
                    "INSERT INTO service_quota_codes \
                     (code, scope, display_name, default_limit, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (code) DO UPDATE SET \
                     scope = excluded.scope, display_name = excluded.display_name, \
                     default_limit = excluded.default_limit, updated_at = excluded.updated_at",
                )
                .bind(&code.code)
                .bind(code.scope.name())
                .bind(&code.display_name)
                .bind(code.default_limit)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(existed == 0)
            }

            async fn service_quota_codes(
                &self,
            ) -> Result<Vec<crate::domain::service_quota::QuotaCode>> {
                let rows = sqlx::query(
                    "SELECT code, scope, display_name, default_limit FROM service_quota_codes \
                     ORDER BY code",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                rows.iter()
                    .map(|r| {
                        let scope: String = r.try_get("scope").map_err(db_error)?;
                        Ok(crate::domain::service_quota::QuotaCode {
                            code: r.try_get("code").map_err(db_error)?,
                            scope: crate::domain::service_quota::Scope::parse(&scope).ok_or_else(
                                || Error::Internal(format!("unknown stored scope {scope}")),
                            )?,
                            display_name: r.try_get("display_name").map_err(db_error)?,
                            default_limit: r.try_get("default_limit").map_err(db_error)?,
                            builtin: false,
                        })
                    })
                    .collect()
            }

            async fn service_quota_adjustments(
                &self,
                tenant_id: Uuid,
                code: &str,
            ) -> Result<Vec<crate::domain::service_quota::AuditRecord>> {
                let rows = sqlx::query(
                    "SELECT scope_ref, old_limit, new_limit, key_id, created_at \
                     FROM service_quota_adjustments WHERE tenant_id = $1 AND code = $2 \
                     ORDER BY created_at, id",
                )
                .bind(tenant_id)
                .bind(code)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                rows.iter()
                    .map(|r| {
                        let reference: String = r.try_get("scope_ref").map_err(db_error)?;
                        Ok(crate::domain::service_quota::AuditRecord {
                            reference: serde_json::from_str(&reference)
                                .map_err(|e| Error::Internal(e.to_string()))?,
                            old_limit: r.try_get("old_limit").map_err(db_error)?,
                            new_limit: r.try_get("new_limit").map_err(db_error)?,
                            key_id: r.try_get("key_id").map_err(db_error)?,
                            at: r.try_get("created_at").map_err(db_error)?,
                        })
                    })
                    .collect()
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

            async fn user_has_key(&self, tenant_id: Uuid, user_id: Uuid) -> Result<bool> {
                sqlx::query("SELECT 1 FROM api_keys WHERE tenant_id = $1 AND user_id = $2 LIMIT 1")
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map(|row| row.is_some())
                    .map_err(db_error)
            }

            async fn chat_quota(
                &self,
                tenant_id: Uuid,
                user_id: Uuid,
            ) -> Result<Option<$crate::domain::waldur::OwnLimits>> {
                sqlx::query(
                    "SELECT daily_limit, weekly_limit, monthly_limit FROM chat_token_quotas \
                     WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .map(|r| Self::own_limits(&r))
                .transpose()
            }

            async fn chat_quotas(
                &self,
                tenant_id: Uuid,
            ) -> Result<Vec<(Uuid, $crate::domain::waldur::OwnLimits)>> {
                use sqlx::Row;
                sqlx::query(
                    "SELECT user_id, daily_limit, weekly_limit, monthly_limit \
                     FROM chat_token_quotas WHERE tenant_id = $1 ORDER BY user_id",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| {
                    let quota = Self::own_limits(r).and_then(|limits| {
                        Ok((r.try_get("user_id").map_err(db_error)?, limits))
                    });
                    readable(quota, "chat quota")
                })
                .collect()
            }

            async fn ensure_chat_quota(
                &self,
                tenant_id: Uuid,
                user_id: Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::domain::waldur::OwnLimits> {
                sqlx::query(
                    "INSERT INTO chat_token_quotas (tenant_id, user_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (tenant_id, user_id) DO NOTHING",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                self.chat_quota(tenant_id, user_id)
                    .await?
                    .ok_or_else(|| Error::Internal("a chat quota vanished".into()))
            }

            async fn set_chat_quota(
                &self,
                tenant_id: Uuid,
                user_id: Uuid,
                changes: &$crate::domain::waldur::LimitChanges,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::domain::waldur::OwnLimits> {
                // Per period: whether it changes, and to what (NULL: the system default).
                let row = sqlx::query(
                    "INSERT INTO chat_token_quotas \
                     (tenant_id, user_id, daily_limit, weekly_limit, monthly_limit, created_at, updated_at) \
                     VALUES ($1, $2, $4, $6, $8, $9, $9) \
                     ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                     daily_limit = CASE WHEN $3 THEN excluded.daily_limit \
                         ELSE chat_token_quotas.daily_limit END, \
                     weekly_limit = CASE WHEN $5 THEN excluded.weekly_limit \
                         ELSE chat_token_quotas.weekly_limit END, \
                     monthly_limit = CASE WHEN $7 THEN excluded.monthly_limit \
                         ELSE chat_token_quotas.monthly_limit END, \
                     updated_at = excluded.updated_at \
                     RETURNING daily_limit, weekly_limit, monthly_limit",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(changes.daily.is_some())
                .bind(changes.daily.flatten())
                .bind(changes.weekly.is_some())
                .bind(changes.weekly.flatten())
                .bind(changes.monthly.is_some())
                .bind(changes.monthly.flatten())
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Self::own_limits(&row)
            }

            async fn notification_rules(
                &self,
                tenant_id: Uuid,
            ) -> Result<Vec<(String, crate::domain::notification::Notification)>> {
                let rows: Vec<(String, String, i64, bool, String)> = sqlx::query_as(
                    "SELECT limit_id, id, percent, repeats, call_url FROM limit_notifications \
                     WHERE tenant_id = $1 ORDER BY limit_id, ordinal",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(limit_id, id, percent, repeat, call_url)| {
                        let rule = crate::domain::notification::Notification {
                            id,
                            percent: u32::try_from(percent).unwrap_or(u32::MAX),
                            repeat,
                            call_url,
                        };
                        (limit_id, rule)
                    })
                    .collect())
            }

            async fn claim_due_notifications(
                &self,
                now_ms: i64,
                claim_until_ms: i64,
                max: i64,
            ) -> Result<Vec<crate::domain::notification::DueNotification>> {
                let rows = sqlx::query(
                    "UPDATE notification_outbox SET next_attempt_at = $2 \
                     WHERE status = 'pending' AND next_attempt_at <= $1 AND id IN \
                       (SELECT id FROM notification_outbox WHERE status = 'pending' \
                        AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
                     RETURNING id, tenant_id, limit_id, notification_id, call_url, metric, \
                       period_start, period_end, threshold, usage, attempts",
                )
                .bind(now_ms)
                .bind(claim_until_ms)
                .bind(max)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                rows.iter().map(due_from).collect()
            }

            async fn record_delivery(
                &self,
                id: Uuid,
                delivery: &crate::domain::notification::Delivery,
                now_ms: i64,
            ) -> Result<()> {
                use crate::domain::notification::Delivery;
                let query = match delivery {
                    Delivery::Delivered => sqlx::query(
                        "UPDATE notification_outbox SET status = 'delivered', attempts = attempts + 1, \
                         last_error = NULL, updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms),
                    Delivery::Refused(why) => sqlx::query(
                        "UPDATE notification_outbox SET status = 'refused', last_error = $3, \
                         updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms)
                    .bind(why),
                    Delivery::Retry { attempts, next_attempt_at, error } => sqlx::query(
                        "UPDATE notification_outbox SET attempts = $3, next_attempt_at = $4, \
                         last_error = $5, updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms)
                    .bind(attempts)
                    .bind(next_attempt_at)
                    .bind(error),
                };
                query.execute(&self.pool).await.map(drop).map_err(db_error)
            }

            async fn zitadel_quota(
                &self,
                tenant_id: Uuid,
                unit: crate::domain::zitadel::Unit,
            ) -> Result<Option<crate::domain::zitadel::QuotaRecord>> {
                let row: Option<(i64, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as(
                        "SELECT sequence, created_at, updated_at FROM zitadel_quotas \
                         WHERE tenant_id = $1 AND unit = $2",
                    )
                    .bind(tenant_id)
                    .bind(unit.number())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(row.map(|(sequence, created_at, updated_at)| crate::domain::zitadel::QuotaRecord {
                    tenant_id,
                    unit,
                    sequence,
                    created_at,
                    updated_at,
                }))
            }

            async fn client_quota(
                &self,
                tenant_id: Uuid,
                id: &str,
            ) -> Result<Option<$crate::domain::confluent::ClientQuota>> {
                sqlx::query(&format!("{CLIENT_QUOTA_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| client_quota_from(&r))
                    .transpose()
            }

            async fn client_quotas(
                &self,
                tenant_id: Uuid,
                environment: &str,
                cluster: &str,
                after: Option<(i64, String)>,
                limit: i64,
            ) -> Result<Vec<$crate::domain::confluent::ClientQuota>> {
                let (after_us, after_id) = after.unwrap_or((i64::MIN, String::new()));
                sqlx::query(&format!(
                    "{CLIENT_QUOTA_COLUMNS} WHERE tenant_id = $1 AND environment_id = $2 \
                     AND cluster_id = $3 AND (created_us > $4 OR (created_us = $4 AND id > $5)) \
                     ORDER BY created_us, id LIMIT $6"
                ))
                .bind(tenant_id)
                .bind(environment)
                .bind(cluster)
                .bind(after_us)
                .bind(&after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(client_quota_from(r), "client quota"))
                .collect()
            }

            async fn count_client_quotas(
                &self,
                tenant_id: Uuid,
                environment: &str,
                cluster: &str,
            ) -> Result<i64> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM confluent_client_quotas \
                     WHERE tenant_id = $1 AND environment_id = $2 AND cluster_id = $3",
                )
                .bind(tenant_id)
                .bind(environment)
                .bind(cluster)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn client_quota_of_principal(
                &self,
                tenant_id: Uuid,
                environment: &str,
                cluster: &str,
                principal: &str,
            ) -> Result<Option<$crate::domain::confluent::ClientQuota>> {
                sqlx::query(&format!(
                    "{CLIENT_QUOTA_COLUMNS} WHERE tenant_id = $1 AND id = \
                     (SELECT quota_id FROM confluent_client_quota_principals WHERE tenant_id = $1 \
                      AND environment_id = $2 AND cluster_id = $3 AND principal_id = $4)"
                ))
                .bind(tenant_id)
                .bind(environment)
                .bind(cluster)
                .bind(principal)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .map(|r| client_quota_from(&r))
                .transpose()
            }

            async fn confluent_secret(
                &self,
                name: &str,
                candidate: &[u8],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<u8>> {
                sqlx::query(
                    "INSERT INTO confluent_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                sqlx::query_scalar("SELECT secret FROM confluent_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }
        }

        impl $store {
            /// Commits a client quota's write, or, when a unique key refused it (a concurrent
            /// writer took a principal first, or the id is taken), names the quota it clashes with.
            /// Reads a chat quota row's own limits.
            fn own_limits(r: &$row) -> Result<$crate::domain::waldur::OwnLimits> {
                use sqlx::Row;
                Ok($crate::domain::waldur::OwnLimits {
                    daily: r.try_get("daily_limit").map_err(db_error)?,
                    weekly: r.try_get("weekly_limit").map_err(db_error)?,
                    monthly: r.try_get("monthly_limit").map_err(db_error)?,
                })
            }
        }

        const QUOTA_COLUMNS: &str = "SELECT tenant_id, id, resource_type, resource_id, user_id, \
            default_rules, policies, capacity, saturation_threshold, created_at, updated_at \
            FROM datarobot_quotas";

        const TEMPLATE_COLUMNS: &str =
            "SELECT tenant_id, id, name, rules, created_at, updated_at FROM datarobot_quota_templates";

        /// A row of a list as read: a row that cannot be read (written by an older version, or
        /// damaged) is left out of the list and logged, so one bad row never fails a whole list.
        fn readable<T>(row: Result<T>, what: &str) -> Option<Result<T>> {
            match row {
                Err(Error::Internal(message)) => {
                    tracing::warn!(what, %message, "left an unreadable stored row out of a list");
                    None
                }
                other => Some(other),
            }
        }

        fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
            serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
        }

        fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
            serde_json::from_str(text)
                .map_err(|_| Error::Internal(format!("a stored DataRobot {what} is unreadable")))
        }

        fn quota_from(r: &$row) -> Result<Quota> {
            use sqlx::Row;
            let rules: String = r.try_get("default_rules").map_err(db_error)?;
            let policies: String = r.try_get("policies").map_err(db_error)?;
            let capacity: Option<String> = r.try_get("capacity").map_err(db_error)?;
            Ok(Quota {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                resource_type: r.try_get("resource_type").map_err(db_error)?,
                resource_id: r.try_get("resource_id").map_err(db_error)?,
                user_id: r.try_get("user_id").map_err(db_error)?,
                default_rules: from_json(&rules, "rule")?,
                policies: from_json(&policies, "policy")?,
                capacity: capacity.map(|c| from_json(&c, "capacity")).transpose()?,
                saturation_threshold: r.try_get("saturation_threshold").map_err(db_error)?,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        fn template_from(r: &$row) -> Result<Template> {
            use sqlx::Row;
            let rules: String = r.try_get("rules").map_err(db_error)?;
            Ok(Template {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                name: r.try_get("name").map_err(db_error)?,
                rules: from_json(&rules, "rule")?,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        const KEY_COLUMNS: &str = "SELECT id, tenant_id, roles, user_id, description, secret_hash, \
                                   created_at FROM api_keys";

        fn tenant_from(r: &$row) -> Result<Tenant> {
            use sqlx::Row;
            let name: String = r.try_get("name").map_err(db_error)?;
            Ok(Tenant {
                id: r.try_get("id").map_err(db_error)?,
                name: TenantName::parse(&name)?,
                created_at: r.try_get("created_at").map_err(db_error)?,
            })
        }

        fn key_from(r: &$row) -> Result<ApiKey> {
            use sqlx::Row;
            let roles: String = r.try_get("roles").map_err(db_error)?;
            let hash: String = r.try_get("secret_hash").map_err(db_error)?;
            Ok(ApiKey {
                id: r.try_get("id").map_err(db_error)?,
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                roles: Roles::from_stored(&roles),
                user_id: r.try_get("user_id").map_err(db_error)?,
                description: r.try_get("description").map_err(db_error)?,
                secret_hash: SecretHash::from_hex(&hash)
                    .ok_or_else(|| Error::Internal("a stored secret hash is malformed".into()))?,
                created_at: r.try_get("created_at").map_err(db_error)?,
            })
        }

        fn due_from(r: &$row) -> Result<crate::domain::notification::DueNotification> {
            use sqlx::Row;
            Ok(crate::domain::notification::DueNotification {
                id: r.try_get("id").map_err(db_error)?,
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                limit_id: r.try_get("limit_id").map_err(db_error)?,
                notification_id: r.try_get("notification_id").map_err(db_error)?,
                call_url: r.try_get("call_url").map_err(db_error)?,
                metric: r.try_get("metric").map_err(db_error)?,
                period_start: r.try_get("period_start").map_err(db_error)?,
                period_end: r.try_get("period_end").map_err(db_error)?,
                threshold: r.try_get("threshold").map_err(db_error)?,
                usage: r.try_get("usage").map_err(db_error)?,
                attempts: r.try_get("attempts").map_err(db_error)?,
            })
        }

        const LIMIT_COLUMNS: &str = "SELECT tenant_id, id, selector, metric, amount, window_spec, \
                                     blocking, owner, created_at, updated_at, per FROM limits";

        fn limit_from(r: &$row) -> Result<Limit> {
            use sqlx::Row;
            let corrupt = |what: &str| Error::Internal(format!("a stored limit has a bad {what}"));
            let selector: String = r.try_get("selector").map_err(db_error)?;
            let selector: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&selector).map_err(|_| corrupt("selector"))?;
            let window: String = r.try_get("window_spec").map_err(db_error)?;
            let window: WindowSpec = serde_json::from_str(&window).map_err(|_| corrupt("window"))?;
            let per: String = r.try_get("per").map_err(db_error)?;
            let per: Vec<String> = serde_json::from_str(&per).map_err(|_| corrupt("per"))?;
            Ok(Limit {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                selector: Subject::trusted(selector),
                metric: r.try_get("metric").map_err(db_error)?,
                amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                window: Window::try_from(window).map_err(|_| corrupt("window"))?,
                blocking: r.try_get("blocking").map_err(db_error)?,
                owner: r.try_get("owner").map_err(db_error)?,
                per,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        const CLIENT_QUOTA_COLUMNS: &str = "SELECT tenant_id, id, environment_id, cluster_id, \
            display_name, description, ingress_byte_rate, egress_byte_rate, principals, \
            created_at, updated_at FROM confluent_client_quotas";

        fn client_quota_from(r: &$row) -> Result<$crate::domain::confluent::ClientQuota> {
            use sqlx::Row;
            let principals: String = r.try_get("principals").map_err(db_error)?;
            let principals: Vec<String> = serde_json::from_str(&principals)
                .map_err(|_| Error::Internal("a stored client quota has bad principals".into()))?;
            Ok($crate::domain::confluent::ClientQuota {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                environment: r.try_get("environment_id").map_err(db_error)?,
                cluster: r.try_get("cluster_id").map_err(db_error)?,
                display_name: r.try_get("display_name").map_err(db_error)?,
                description: r.try_get("description").map_err(db_error)?,
                throughput: $crate::domain::confluent::Throughput {
                    ingress_byte_rate: r.try_get("ingress_byte_rate").map_err(db_error)?,
                    egress_byte_rate: r.try_get("egress_byte_rate").map_err(db_error)?,
                },
                principals,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        /// The steps of client quota writes, inside one transaction.
        mod confluent_steps {
            use super::*;
            use $crate::domain::aggregate::Written;
            use $crate::domain::confluent::{ClientQuota, PrincipalClash};

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// The first principal of `q` that another client quota on its cluster names.
            pub async fn clash(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<Option<PrincipalClash>> {
                for principal in &q.principals {
                    let other: Option<String> = sqlx::query_scalar(
                        "SELECT quota_id FROM confluent_client_quota_principals \
                         WHERE tenant_id = $1 AND environment_id = $2 AND cluster_id = $3 \
                         AND principal_id = $4 AND quota_id <> $5",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.environment)
                    .bind(&q.cluster)
                    .bind(principal)
                    .bind(&q.id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    if let Some(quota_id) = other {
                        return Ok(Some(PrincipalClash {
                            principal: principal.clone(),
                            quota_id,
                        }));
                    }
                }
                Ok(None)
            }

            /// Writes the quota's row.
            pub async fn insert_row(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<()> {
                let principals = serde_json::to_string(&q.principals)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO confluent_client_quotas (tenant_id, id, environment_id, cluster_id, \
                     display_name, description, ingress_byte_rate, egress_byte_rate, principals, \
                     created_us, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(q.tenant_id)
                .bind(&q.id)
                .bind(&q.environment)
                .bind(&q.cluster)
                .bind(&q.display_name)
                .bind(&q.description)
                .bind(q.throughput.ingress_byte_rate)
                .bind(q.throughput.egress_byte_rate)
                .bind(&principals)
                .bind(q.created_at.timestamp_micros())
                .bind(q.created_at)
                .bind(q.updated_at)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Replaces the quota's mutable parts and principals; `Missing` when it is gone.
            pub async fn update_row(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<Written> {
                let principals = serde_json::to_string(&q.principals)
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    let updated = sqlx::query(
                        "UPDATE confluent_client_quotas SET display_name = $3, description = $4, \
                         ingress_byte_rate = $5, egress_byte_rate = $6, principals = $7, \
                         updated_at = $8 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.id)
                    .bind(&q.display_name)
                    .bind(&q.description)
                    .bind(q.throughput.ingress_byte_rate)
                    .bind(q.throughput.egress_byte_rate)
                    .bind(&principals)
                    .bind(q.updated_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    if updated == 0 {
                        return Ok(Written::Missing);
                    }
                    sqlx::query(
                        "DELETE FROM confluent_client_quota_principals \
                         WHERE tenant_id = $1 AND quota_id = $2",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    insert_principals(tx, q).await?;
                Ok(Written::Done)
            }

            /// Claims each principal of `q` on its cluster (a unique key refuses a second claim).
            pub async fn insert_principals(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<()> {
                for principal in &q.principals {
                    sqlx::query(
                        "INSERT INTO confluent_client_quota_principals \
                         (tenant_id, environment_id, cluster_id, principal_id, quota_id) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.environment)
                    .bind(&q.cluster)
                    .bind(principal)
                    .bind(&q.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
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

pub(crate) use shared_store;
