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
                    .map(tenant_from)
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
                .map(key_from)
                .collect()
            }

            async fn delete_key(&self, tenant_id: Uuid, key_id: &str) -> Result<bool> {
                sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(key_id)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected() > 0)
                    .map_err(db_error)
            }

            async fn count_keys(&self) -> Result<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn put_limit(&self, l: &Limit) -> Result<bool> {
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
                if inserted > 0 {
                    return Ok(true);
                }
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
                    .map(limit_from)
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
                state.counters = Self::lock_counters(&mut tx, &reads.counters, reads.now_ms).await?;
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
                tx.commit().await.map_err(db_error)
            }

            async fn insert_datarobot_quota(&self, q: &Quota) -> Result<()> {
                sqlx::query(
                    "INSERT INTO datarobot_quotas (tenant_id, id, resource_type, resource_id, \
                     user_id, default_rules, policies, capacity, saturation_threshold, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(q.tenant_id)
                .bind(&q.id)
                .bind(&q.resource_type)
                .bind(&q.resource_id)
                .bind(&q.user_id)
                .bind(to_json(&q.default_rules)?)
                .bind(to_json(&q.policies)?)
                .bind(q.capacity.as_ref().map(to_json).transpose()?)
                .bind(q.saturation_threshold)
                .bind(q.created_at)
                .bind(q.updated_at)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(db_error)
            }

            async fn update_datarobot_quota(&self, q: &Quota) -> Result<bool> {
                sqlx::query(
                    "UPDATE datarobot_quotas SET default_rules = $3, policies = $4, capacity = $5, \
                     saturation_threshold = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(q.tenant_id)
                .bind(&q.id)
                .bind(to_json(&q.default_rules)?)
                .bind(to_json(&q.policies)?)
                .bind(q.capacity.as_ref().map(to_json).transpose()?)
                .bind(q.saturation_threshold)
                .bind(q.updated_at)
                .execute(&self.pool)
                .await
                .map(|done| done.rows_affected() > 0)
                .map_err(db_error)
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
                .map(quota_from)
                .collect::<Result<Vec<_>>>()?;
                Ok((quotas, total))
            }

            async fn delete_datarobot_quota(&self, tenant_id: Uuid, id: &str) -> Result<bool> {
                sqlx::query("DELETE FROM datarobot_quotas WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected() > 0)
                    .map_err(db_error)
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
                .map(template_from)
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
                sqlx::query("DELETE FROM counters WHERE period_end < $1")
                    .bind(now_ms.saturating_sub(COUNTER_RETENTION_MS))
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }
        }

        const QUOTA_COLUMNS: &str = "SELECT tenant_id, id, resource_type, resource_id, user_id, \
            default_rules, policies, capacity, saturation_threshold, created_at, updated_at \
            FROM datarobot_quotas";

        const TEMPLATE_COLUMNS: &str =
            "SELECT tenant_id, id, name, rules, created_at, updated_at FROM datarobot_quota_templates";

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

        const LIMIT_COLUMNS: &str = "SELECT tenant_id, id, selector, metric, amount, window_spec, \
                                     blocking, owner, created_at, updated_at, per FROM limits";

        /// How long counters of ended periods are kept (for reads just after a reset).
        const COUNTER_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

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
                selector: Subject::parse(selector, "/selector").map_err(|_| corrupt("selector"))?,
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
