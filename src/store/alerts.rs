//! Alert targets, alert rules and the deliveries list ([`crate::domain::alert`]). The SQL is the
//! same in both dialects; [`alert_store!`] expands it for a backend beside `shared_store!`.

use uuid::Uuid;

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::alert::{AlertDelivery, AlertStore, AlertTarget};
use crate::domain::audit::AuditRecord;
use crate::domain::notification::Notification;
use crate::domain::page::{PageRequest, Paged};

/// Implements [`AlertStore`] for a backend struct with a `pool` field, and the `alert_steps`
/// the notification store reads alert rules with.
macro_rules! alert_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::alert::AlertStore for $store {
            async fn insert_alert_target(
                &self,
                t: &$crate::domain::alert::AlertTarget,
                max: i64,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let inserted = sqlx::query(
                    "INSERT INTO alert_targets (tenant_id, id, url, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $4 \
                     WHERE (SELECT COUNT(*) FROM alert_targets WHERE tenant_id = $1) < $5",
                )
                .bind(t.tenant_id)
                .bind(t.id)
                .bind(&t.url)
                .bind(t.created_at)
                .bind(max)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                if inserted > 0 {
                    audit_steps::append(&mut *tx, audit).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(inserted > 0)
            }

            async fn alert_targets(
                &self,
                tenant_id: Uuid,
            ) -> Result<Vec<$crate::domain::alert::AlertTarget>> {
                let rows: Vec<(Uuid, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT id, url, created_at FROM alert_targets WHERE tenant_id = $1 \
                     ORDER BY created_at, id",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, url, created_at)| $crate::domain::alert::AlertTarget {
                        tenant_id,
                        id,
                        url,
                        created_at,
                    })
                    .collect())
            }

            async fn alert_target(
                &self,
                tenant_id: Uuid,
                id: Uuid,
            ) -> Result<Option<$crate::domain::alert::AlertTarget>> {
                let row: Option<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                    "SELECT url, created_at FROM alert_targets WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(url, created_at)| $crate::domain::alert::AlertTarget {
                    tenant_id,
                    id,
                    url,
                    created_at,
                }))
            }

            async fn delete_alert_target(
                &self,
                tenant_id: Uuid,
                id: Uuid,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<Option<Vec<String>>> {
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let users: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT limit_id FROM limit_alerts \
                     WHERE tenant_id = $1 AND target_id = $2 ORDER BY limit_id",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
                if !users.is_empty() {
                    return Ok(Some(users));
                }
                let deleted = sqlx::query("DELETE FROM alert_targets WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                if deleted > 0 {
                    audit_steps::append(&mut *tx, audit).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok((deleted > 0).then(Vec::new))
            }

            async fn alert_rules_of(
                &self,
                tenant_id: Uuid,
                limit_id: &str,
            ) -> Result<Vec<$crate::domain::notification::Notification>> {
                Ok(alert_steps::alert_rules(&self.pool, tenant_id, Some(limit_id))
                    .await?
                    .into_iter()
                    .map(|(_, rule)| rule)
                    .collect())
            }

            async fn replace_alert_rules(
                &self,
                tenant_id: Uuid,
                limit_id: &str,
                rules: &[$crate::domain::notification::Notification],
                now: chrono::DateTime<chrono::Utc>,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<()> {
                use $crate::domain::notification::Threshold;
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                // Marks the limit changed first: its row lock orders concurrent replacements.
                let touched = sqlx::query(
                    "UPDATE limits SET updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(limit_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                if touched == 0 {
                    return Err(Error::NotFound("limit"));
                }
                sqlx::query("DELETE FROM limit_alerts WHERE tenant_id = $1 AND limit_id = $2")
                    .bind(tenant_id)
                    .bind(limit_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for (ordinal, rule) in rules.iter().enumerate() {
                    let Some(target) = rule.webhook() else {
                        continue;
                    };
                    let (kind, threshold) = match rule.threshold {
                        Threshold::Percent(p) => ("percent", i64::from(p)),
                        Threshold::Units(u) => ("units", u),
                    };
                    sqlx::query(
                        "INSERT INTO limit_alerts (tenant_id, limit_id, id, threshold_kind, \
                         threshold, repeats, target_id, ordinal, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(tenant_id)
                    .bind(limit_id)
                    .bind(&rule.id)
                    .bind(kind)
                    .bind(threshold)
                    .bind(rule.repeat)
                    .bind(target)
                    .bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)
            }

            async fn alert_deliveries(
                &self,
                tenant_id: Uuid,
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<$crate::domain::alert::AlertDelivery>> {
                use $crate::domain::page::Cursor;
                const COLUMNS: &str = "SELECT id, kind, limit_id, \
                    COALESCE(rule_id, notification_id) AS rule_id, target_id, per_value, status, \
                    attempts, last_error, period_start, threshold, usage, created_at, updated_at, \
                    payload FROM notification_outbox WHERE tenant_id = $1";
                let fetched = i64::from(page.limit) + 1;
                let rows = match &page.after {
                    None => {
                        sqlx::query(&format!(
                            "{COLUMNS} ORDER BY created_at DESC, id DESC LIMIT $2"
                        ))
                        .bind(tenant_id)
                        .bind(fetched)
                        .fetch_all(&self.pool)
                        .await
                    }
                    Some(after) => {
                        let bad = || Error::invalid_query("cursor", "not a cursor this server gave");
                        let at = after.created_at.ok_or_else(bad)?.timestamp_millis();
                        let id = Uuid::parse_str(&after.id).map_err(|_| bad())?;
                        sqlx::query(&format!(
                            "{COLUMNS} AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                             ORDER BY created_at DESC, id DESC LIMIT $4"
                        ))
                        .bind(tenant_id)
                        .bind(at)
                        .bind(id)
                        .bind(fetched)
                        .fetch_all(&self.pool)
                        .await
                    }
                }
                .map_err(db_error)?;
                let mut items = rows
                    .iter()
                    .map(alert_steps::delivery_from)
                    .collect::<Result<Vec<_>>>()?;
                let more = items.len() > page.limit as usize;
                items.truncate(page.limit as usize);
                let next = match items.last() {
                    Some(last) if more => Some(Cursor {
                        created_at: chrono::DateTime::from_timestamp_millis(last.created_at),
                        id: last.id.to_string(),
                    }),
                    _ => None,
                };
                Ok($crate::domain::page::Paged { items, next })
            }
        }

        /// Alert rows read the same way wherever they are needed.
        mod alert_steps {
            use super::*;

            /// A tenant's alert rules (of one limit, or all), by limit and then in the order
            /// given, with their limit's id.
            pub async fn alert_rules(
                pool: &sqlx::Pool<$db>,
                tenant_id: Uuid,
                limit_id: Option<&str>,
            ) -> Result<Vec<(String, $crate::domain::notification::Notification)>> {
                use $crate::domain::notification::{Notification, Target, Threshold};
                let rows: Vec<(String, String, String, i64, bool, Uuid)> = sqlx::query_as(
                    "SELECT limit_id, id, threshold_kind, threshold, repeats, target_id \
                     FROM limit_alerts WHERE tenant_id = $1 AND ($2 IS NULL OR limit_id = $2) \
                     ORDER BY limit_id, ordinal",
                )
                .bind(tenant_id)
                .bind(limit_id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(limit_id, id, kind, threshold, repeat, target)| {
                        let threshold = if kind == "units" {
                            Threshold::Units(threshold)
                        } else {
                            Threshold::Percent(u32::try_from(threshold).unwrap_or(u32::MAX))
                        };
                        let rule = Notification {
                            id,
                            threshold,
                            repeat,
                            target: Target::Webhook(target),
                        };
                        (limit_id, rule)
                    })
                    .collect())
            }

            pub fn delivery_from(r: &$row) -> Result<$crate::domain::alert::AlertDelivery> {
                use sqlx::Row;
                let kind: String = r.try_get("kind").map_err(db_error)?;
                Ok($crate::domain::alert::AlertDelivery {
                    id: r.try_get("id").map_err(db_error)?,
                    kind: $crate::domain::notification::EventKind::parse(&kind),
                    limit_id: r.try_get("limit_id").map_err(db_error)?,
                    rule_id: r.try_get("rule_id").map_err(db_error)?,
                    target_id: r.try_get("target_id").map_err(db_error)?,
                    per_value: r.try_get("per_value").map_err(db_error)?,
                    status: r.try_get("status").map_err(db_error)?,
                    attempts: r.try_get("attempts").map_err(db_error)?,
                    last_error: r.try_get("last_error").map_err(db_error)?,
                    period_start: r.try_get("period_start").map_err(db_error)?,
                    threshold: r.try_get("threshold").map_err(db_error)?,
                    usage: r.try_get("usage").map_err(db_error)?,
                    created_at: r.try_get("created_at").map_err(db_error)?,
                    updated_at: r.try_get("updated_at").map_err(db_error)?,
                    payload: r.try_get("payload").map_err(db_error)?,
                })
            }
        }
    };
}

pub(crate) use alert_store;

impl AlertStore for AnyStore {
    async fn insert_alert_target(
        &self,
        target: &AlertTarget,
        max: i64,
        audit: &AuditRecord,
    ) -> Result<bool> {
        dispatch!(self, s => s.insert_alert_target(target, max, audit))
    }
    async fn alert_targets(&self, tenant_id: Uuid) -> Result<Vec<AlertTarget>> {
        dispatch!(self, s => s.alert_targets(tenant_id))
    }
    async fn alert_target(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<AlertTarget>> {
        dispatch!(self, s => s.alert_target(tenant_id, id))
    }
    async fn delete_alert_target(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        audit: &AuditRecord,
    ) -> Result<Option<Vec<String>>> {
        dispatch!(self, s => s.delete_alert_target(tenant_id, id, audit))
    }
    async fn alert_rules_of(&self, tenant_id: Uuid, limit_id: &str) -> Result<Vec<Notification>> {
        dispatch!(self, s => s.alert_rules_of(tenant_id, limit_id))
    }
    async fn replace_alert_rules(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        rules: &[Notification],
        now: chrono::DateTime<chrono::Utc>,
        audit: &AuditRecord,
    ) -> Result<()> {
        dispatch!(self, s => s.replace_alert_rules(tenant_id, limit_id, rules, now, audit))
    }
    async fn alert_deliveries(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Paged<AlertDelivery>> {
        dispatch!(self, s => s.alert_deliveries(tenant_id, page))
    }
}
