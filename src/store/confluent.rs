//! Confluent client quotas and the surface's secrets.
//!
//! The SQL both dialects share, expanded for a backend by [`confluent_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses.

/// Implements [`crate::domain::ports::ConfluentStore`] for a backend struct with a `pool` field.
macro_rules! confluent_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::ConfluentStore for $store {
            async fn client_quota(
                &self,
                tenant_id: Uuid,
                id: &str,
            ) -> Result<Option<$crate::domain::confluent::ClientQuota>> {
                self.by_id(CLIENT_QUOTA_COLUMNS, tenant_id, id, client_quota_from).await
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
    };
}

pub(crate) use confluent_store;
