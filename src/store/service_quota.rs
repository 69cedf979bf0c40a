//! Operator-defined service-quota codes and the audit of applied-quota adjustments.
//!
//! The SQL both dialects share, expanded for a backend by [`service_quota_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses; and the port for [`super::AnyStore`].

use uuid::Uuid;

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::service_quota::{AuditRecord as Adjustment, QuotaCode};

/// Implements [`crate::domain::ports::ServiceQuotaStore`] for a backend struct with a `pool` field.
macro_rules! service_quota_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::ServiceQuotaStore for $store {
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

            async fn applied_partitions(
                &self,
                tenant_id: Uuid,
                limit_id: &str,
                after: &str,
                n: u32,
            ) -> Result<Vec<String>> {
                sqlx::query_scalar(
                    "SELECT per_value FROM counters WHERE tenant_id = $1 AND limit_id = $2 \
                     AND per_value > $3 AND period_start = 0 ORDER BY per_value LIMIT $4",
                )
                .bind(tenant_id)
                .bind(limit_id)
                .bind(after)
                .bind(i64::from(n))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }
        }
    };
}

pub(crate) use service_quota_store;

impl crate::domain::ports::ServiceQuotaStore for AnyStore {
    async fn put_service_quota_code(
        &self,
        code: &QuotaCode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        dispatch!(self, s => s.put_service_quota_code(code, now))
    }
    async fn service_quota_codes(&self) -> Result<Vec<QuotaCode>> {
        dispatch!(self, s => s.service_quota_codes())
    }
    async fn service_quota_adjustments(
        &self,
        tenant_id: Uuid,
        code: &str,
    ) -> Result<Vec<Adjustment>> {
        dispatch!(self, s => s.service_quota_adjustments(tenant_id, code))
    }
    async fn applied_partitions(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        after: &str,
        n: u32,
    ) -> Result<Vec<String>> {
        dispatch!(self, s => s.applied_partitions(tenant_id, limit_id, after, n))
    }
}
