//! ZITADEL instances' sequences and limits ([`InstanceStore`]), for both backends: the SQL is the
//! same text in PostgreSQL and SQLite.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{AnyStore, PgStore, SqliteStore, db_error, dispatch};
use crate::domain::Result;
use crate::domain::audit::AuditRecord;
use crate::domain::zitadel_instance::{InstanceLimits, InstanceStore};

type LimitsRow = (Option<bool>, Option<i64>, i64, DateTime<Utc>, DateTime<Utc>);

fn limits_from(tenant_id: Uuid, row: LimitsRow) -> InstanceLimits {
    let (block, retention, sequence, created_at, updated_at) = row;
    InstanceLimits {
        tenant_id,
        block,
        audit_log_retention: retention.and_then(TimeDelta::try_seconds),
        sequence,
        created_at,
        updated_at,
    }
}

macro_rules! instance_store {
    ($store:ty, $($audit:ident)::+) => {
        impl InstanceStore for $store {
            async fn next_instance_sequence(
                &self,
                tenant_id: Uuid,
                now: DateTime<Utc>,
            ) -> Result<i64> {
                sqlx::query_scalar(
                    "INSERT INTO zitadel_instance_sequences \
                     (tenant_id, sequence, created_at, updated_at) VALUES ($1, 1, $2, $2) \
                     ON CONFLICT (tenant_id) DO UPDATE SET \
                     sequence = zitadel_instance_sequences.sequence + 1, updated_at = $2 \
                     RETURNING sequence",
                )
                .bind(tenant_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn instance_sequence(&self, tenant_id: Uuid) -> Result<i64> {
                let sequence: Option<i64> = sqlx::query_scalar(
                    "SELECT sequence FROM zitadel_instance_sequences WHERE tenant_id = $1",
                )
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(sequence.unwrap_or(0))
            }

            async fn instance_limits(&self, tenant_id: Uuid) -> Result<Option<InstanceLimits>> {
                let row: Option<LimitsRow> = sqlx::query_as(
                    "SELECT block, audit_log_retention_seconds, sequence, created_at, updated_at \
                     FROM zitadel_instance_limits WHERE tenant_id = $1",
                )
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|row| limits_from(tenant_id, row)))
            }

            async fn put_instance_limits(
                &self,
                l: &InstanceLimits,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                sqlx::query(
                    "INSERT INTO zitadel_instance_limits (tenant_id, block, \
                     audit_log_retention_seconds, sequence, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET \
                     block = $2, audit_log_retention_seconds = $3, sequence = $4, \
                     updated_at = $6",
                )
                .bind(l.tenant_id)
                .bind(l.block)
                .bind(l.audit_log_retention.map(|r| r.num_seconds()))
                .bind(l.sequence)
                .bind(l.created_at)
                .bind(l.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                $($audit)::+::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)
            }

            async fn delete_instance_limits(
                &self,
                tenant_id: Uuid,
                audit: &AuditRecord,
            ) -> Result<bool> {
                let delete = sqlx::query("DELETE FROM zitadel_instance_limits WHERE tenant_id = $1")
                    .bind(tenant_id);
                self.delete_audited(delete, audit).await
            }

            async fn blocked_instances(&self) -> Result<Vec<Uuid>> {
                sqlx::query_scalar("SELECT tenant_id FROM zitadel_instance_limits WHERE block")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }
        }
    };
}

instance_store!(PgStore, super::postgres::audit_steps);
instance_store!(SqliteStore, super::sqlite::audit_steps);

impl InstanceStore for AnyStore {
    async fn next_instance_sequence(&self, tenant_id: Uuid, now: DateTime<Utc>) -> Result<i64> {
        dispatch!(self, s => s.next_instance_sequence(tenant_id, now))
    }
    async fn instance_sequence(&self, tenant_id: Uuid) -> Result<i64> {
        dispatch!(self, s => s.instance_sequence(tenant_id))
    }
    async fn instance_limits(&self, tenant_id: Uuid) -> Result<Option<InstanceLimits>> {
        dispatch!(self, s => s.instance_limits(tenant_id))
    }
    async fn put_instance_limits(
        &self,
        limits: &InstanceLimits,
        audit: &AuditRecord,
    ) -> Result<()> {
        dispatch!(self, s => s.put_instance_limits(limits, audit))
    }
    async fn delete_instance_limits(&self, tenant_id: Uuid, audit: &AuditRecord) -> Result<bool> {
        dispatch!(self, s => s.delete_instance_limits(tenant_id, audit))
    }
    async fn blocked_instances(&self) -> Result<Vec<Uuid>> {
        dispatch!(self, s => s.blocked_instances())
    }
}
