//! CI mode's store operations: forgetting usage between test cases.

use super::{AnyStore, db_error};
use crate::domain::Result;
use crate::domain::test_clock::UsageResetStore;

/// The tables that hold usage rather than configuration, children first.
const USAGE_TABLES: [&str; 5] = [
    "leases",
    "lease_grants",
    "counters",
    "idempotency",
    "notification_outbox",
];

impl AnyStore {
    /// Renames a tenant (seed files fix ids; a changed name is an update), with the audit
    /// record of the change.
    pub async fn rename_tenant(
        &self,
        id: uuid::Uuid,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
        audit: &crate::domain::audit::AuditRecord,
    ) -> Result<()> {
        let sql = "UPDATE tenants SET name = $2, updated_at = $3 WHERE id = $1";
        macro_rules! rename {
            ($s:expr, $($steps:ident)::+) => {{
                let mut tx = $s.pool.begin().await.map_err(db_error)?;
                sqlx::query(sql)
                    .bind(id)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                $($steps)::+::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)
            }};
        }
        match self {
            AnyStore::Postgres(s) => rename!(s, super::postgres::audit_steps),
            AnyStore::Sqlite(s) => rename!(s, super::sqlite::audit_steps),
        }
    }
}

impl UsageResetStore for AnyStore {
    /// Deletes every lease, counter, idempotency record and notification event, in one
    /// transaction; tenants, keys, quotas and limits stay. How many rows went.
    async fn reset_usage(&self) -> Result<u64> {
        macro_rules! delete_usage {
            ($begin:expr) => {{
                let mut tx = $begin.await.map_err(db_error)?;
                let mut deleted = 0;
                for table in USAGE_TABLES {
                    let sql = format!("DELETE FROM {table}");
                    let done = sqlx::query(&sql)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    deleted += done.rows_affected();
                }
                tx.commit().await.map_err(db_error)?;
                Ok(deleted)
            }};
        }
        match self {
            AnyStore::Postgres(s) => delete_usage!(s.pool.begin()),
            AnyStore::Sqlite(s) => delete_usage!(s.pool.begin_with("BEGIN IMMEDIATE")),
        }
    }
}
