//! The audit log ([`crate::domain::audit`]): the step that appends a record inside a write's own
//! transaction, and the page reader. The SQL is the same in both dialects; [`audit_store!`]
//! expands it for a backend.

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::audit::{AuditFilter, AuditRecord, AuditStore};
use crate::domain::page::{PageRequest, Paged};

/// Implements [`AuditStore`] for a backend struct with a `pool` field, with the `audit_steps`
/// module the other area files call inside their transactions.
macro_rules! audit_store {
    ($store:ty, $db:ty, $row:ty) => {
        /// Appending and reading audit records.
        pub(crate) mod audit_steps {
            use super::*;
            use $crate::domain::audit::{Action, Actor, AuditRecord, ResourceType};

            /// Appends `r` (inside the caller's transaction, so it commits with the change).
            pub async fn append<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                r: &AuditRecord,
            ) -> Result<()> {
                let text = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
                sqlx::query(
                    "INSERT INTO audit_log (id, tenant_id, at, key_id, roles, action, \
                     resource_type, resource_id, before_json, after_json, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(r.id)
                .bind(r.tenant_id)
                .bind(r.at.timestamp_millis())
                .bind(&r.actor.key_id)
                .bind(r.actor.roles.join(","))
                .bind(r.action.as_str())
                .bind(r.resource_type.as_str())
                .bind(&r.resource_id)
                .bind(text(&r.before))
                .bind(text(&r.after))
                .bind(r.at)
                .execute(executor)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Appends `r` when there is one.
            pub async fn append_some<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                r: Option<&AuditRecord>,
            ) -> Result<()> {
                match r {
                    Some(r) => append(executor, r).await,
                    None => Ok(()),
                }
            }

            /// A record as stored.
            pub fn record_from(r: &$row) -> Result<AuditRecord> {
                use sqlx::Row;
                let get_json = |column: &str| -> Result<Option<serde_json::Value>> {
                    let text: Option<String> = r.try_get(column).map_err(db_error)?;
                    text.map(|t| {
                        serde_json::from_str(&t).map_err(|e| Error::Internal(e.to_string()))
                    })
                    .transpose()
                };
                let action: String = r.try_get("action").map_err(db_error)?;
                let kind: String = r.try_get("resource_type").map_err(db_error)?;
                let roles: String = r.try_get("roles").map_err(db_error)?;
                let at: i64 = r.try_get("at").map_err(db_error)?;
                Ok(AuditRecord {
                    id: r.try_get("id").map_err(db_error)?,
                    at: chrono::DateTime::from_timestamp_millis(at)
                        .ok_or_else(|| Error::Internal(format!("audit instant {at}")))?,
                    tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                    actor: Actor {
                        key_id: r.try_get("key_id").map_err(db_error)?,
                        roles: roles
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    },
                    action: Action::parse(&action)
                        .ok_or_else(|| Error::Internal(format!("audit action {action}")))?,
                    resource_type: ResourceType::parse(&kind)
                        .ok_or_else(|| Error::Internal(format!("audit resource type {kind}")))?,
                    resource_id: r.try_get("resource_id").map_err(db_error)?,
                    before: get_json("before_json")?,
                    after: get_json("after_json")?,
                })
            }
        }

        impl $store {
            /// Runs `delete` and, when it removed a row, appends `audit` in the same transaction;
            /// false, and nothing written, when there was no row.
            pub(super) async fn delete_audited<'q>(
                &self,
                delete: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let mut tx = Self::begin_batch(&self.pool).await?;
                let done = delete.execute(&mut *tx).await.map_err(db_error)?;
                let deleted = done.rows_affected() > 0;
                if deleted {
                    audit_steps::append(&mut *tx, audit).await?;
                    tx.commit().await.map_err(db_error)?;
                }
                Ok(deleted)
            }
        }

        impl $crate::domain::audit::AuditStore for $store {
            async fn audit_page(
                &self,
                filter: &$crate::domain::audit::AuditFilter,
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<$crate::domain::audit::AuditRecord>> {
                use sqlx::Row;
                let bad_cursor = || Error::invalid_query("cursor", "not a cursor this server gave");
                let (after_at, after_id) = match &page.after {
                    None => (None, None),
                    Some(c) => {
                        let at = c.created_at.ok_or_else(bad_cursor)?.timestamp_millis();
                        let id = Uuid::parse_str(&c.id).map_err(|_| bad_cursor())?;
                        (Some(at), Some(id))
                    }
                };
                let rows = sqlx::query(
                    "SELECT id, tenant_id, at, key_id, roles, action, resource_type, resource_id, \
                     before_json, after_json FROM audit_log \
                     WHERE ($1 IS NULL OR tenant_id = $1) \
                     AND ($2 IS NULL OR resource_type = $2) \
                     AND ($3 IS NULL OR resource_id = $3) \
                     AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
                     AND ($6 IS NULL OR at < $6 OR (at = $6 AND id < $7)) \
                     ORDER BY at DESC, id DESC LIMIT $8",
                )
                .bind(filter.tenant_id)
                .bind(filter.resource_type.map(|t| t.as_str()))
                .bind(filter.resource_id.as_deref())
                .bind(filter.from.map(|t| t.timestamp_millis()))
                .bind(filter.to.map(|t| t.timestamp_millis()))
                .bind(after_at)
                .bind(after_id)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let shown = rows.len().min(page.limit as usize);
                let next = match rows.get(shown.wrapping_sub(1)) {
                    Some(last) if rows.len() > shown => {
                        let at: i64 = last.try_get("at").map_err(db_error)?;
                        let id: Uuid = last.try_get("id").map_err(db_error)?;
                        Some($crate::domain::page::Cursor {
                            created_at: chrono::DateTime::from_timestamp_millis(at),
                            id: id.to_string(),
                        })
                    }
                    _ => None,
                };
                let items = rows[..shown]
                    .iter()
                    .filter_map(|r| readable(audit_steps::record_from(r), "audit record"))
                    .collect::<Result<Vec<_>>>()?;
                Ok($crate::domain::page::Paged { items, next })
            }
        }
    };
}

pub(crate) use audit_store;

impl AuditStore for AnyStore {
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Paged<AuditRecord>> {
        dispatch!(self, s => s.audit_page(filter, page))
    }
}
