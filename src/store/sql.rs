//! The SQL both backends share, written once and expanded for each by [`shared_store!`].

/// Implements [`crate::store::Store`] for a backend struct with a `pool` field. The SQL here must
/// be valid in both PostgreSQL and SQLite; the row types (`Uuid`, `DateTime<Utc>`) are mapped by
/// sqlx to each dialect's columns (see the two migration folders).
macro_rules! shared_store {
    ($store:ty, $row:ty) => {
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
    };
}

pub(crate) use shared_store;
