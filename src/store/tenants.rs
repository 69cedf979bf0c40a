//! Tenants and their keys.
//!
//! The SQL both dialects share, expanded for a backend by [`tenant_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses.

/// Implements [`crate::domain::ports::TenantStore`] for a backend struct with a `pool` field.
macro_rules! tenant_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::TenantStore for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(db_error)
            }

            async fn insert_tenant(
                &self,
                t: &Tenant,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<()> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                )
                .bind(t.id)
                .bind(t.name.as_str())
                .bind(t.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)
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

            async fn insert_key(
                &self,
                k: &ApiKey,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<()> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                aggregate_rows::insert_key(&mut *tx, k).await?;
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)
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

            async fn count_keys(&self) -> Result<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }
        }
    };
}

pub(crate) use tenant_store;
