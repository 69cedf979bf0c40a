//! Waldur users' chat token quotas.
//!
//! The SQL both dialects share, expanded for a backend by [`chat_store!`] beside `shared_store!`,
//! whose row readers it uses; a quota's row is set by `chat_steps::set`, a step of the Waldur
//! `set_quota` aggregate.

/// Implements [`crate::domain::ports::ChatQuotaStore`] for a backend struct with a `pool` field.
macro_rules! chat_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::ChatQuotaStore for $store {
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
                    let quota = Self::own_limits(r)
                        .and_then(|limits| Ok((r.try_get("user_id").map_err(db_error)?, limits)));
                    readable(quota, "chat quota")
                })
                .collect()
            }
        }

        /// A user's chat quota row, written inside an aggregate's transaction.
        mod chat_steps {
            use super::*;

            /// Sets the periods of the user's quota that change, creating the row when missing.
            pub async fn set<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                tenant_id: Uuid,
                user_id: Uuid,
                changes: &$crate::domain::waldur::LimitChanges,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<()> {
                // Per period: whether it changes, and to what (NULL: the system default).
                sqlx::query(
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
                     updated_at = excluded.updated_at",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(changes.daily.is_some())
                .bind(changes.daily.flatten())
                .bind(changes.weekly.is_some())
                .bind(changes.weekly.flatten())
                .bind(changes.monthly.is_some())
                .bind(changes.monthly.flatten())
                .bind(at)
                .execute(executor)
                .await
                .map(drop)
                .map_err(db_error)
            }
        }
    };
}

pub(crate) use chat_store;
