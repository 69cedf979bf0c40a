//! The rows of an aggregate write that are not limits: deletes, DataRobot and ZITADEL quota rows,
//! applied-quota adjustments and notification rules, expanded for a backend by
//! [`aggregate_rows!`] beside `aggregate_store!`, whose steps call them in the write's
//! transaction.

/// Defines the `aggregate_rows` module for a backend whose database type is `$db`.
macro_rules! aggregate_rows {
    ($db:ty) => {
        /// The rows of an aggregate write, inside its transaction.
        mod aggregate_rows {
            use super::*;
            use $crate::domain::aggregate::Written;

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            pub(super) async fn delete(tx: &mut Tx<'_>, sql: &str, tenant_id: Uuid, id: &str) -> Result<Written> {
                let done = sqlx::query(sql)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(if done.rows_affected() > 0 { Written::Done } else { Written::Missing })
            }

            /// Inserts a DataRobot quota's row, or replaces its rules (`Missing` when gone).
            pub(super) async fn datarobot_row(
                tx: &mut Tx<'_>,
                q: &$crate::domain::datarobot::Quota,
                insert: bool,
            ) -> Result<Written> {
                let query = if insert {
                    sqlx::query(
                        "INSERT INTO datarobot_quotas (tenant_id, id, default_rules, policies, \
                         capacity, saturation_threshold, updated_at, resource_type, resource_id, \
                         user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                } else {
                    sqlx::query(
                        "UPDATE datarobot_quotas SET default_rules = $3, policies = $4, \
                         capacity = $5, saturation_threshold = $6, updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                };
                let query = query
                    .bind(q.tenant_id)
                    .bind(&q.id)
                    .bind(to_json(&q.default_rules)?)
                    .bind(to_json(&q.policies)?)
                    .bind(q.capacity.as_ref().map(to_json).transpose()?)
                    .bind(q.saturation_threshold)
                    .bind(q.updated_at);
                let query = if insert {
                    query
                        .bind(&q.resource_type)
                        .bind(&q.resource_id)
                        .bind(&q.user_id)
                        .bind(q.created_at)
                } else {
                    query
                };
                let done = query.execute(&mut **tx).await.map_err(db_error)?;
                Ok(if done.rows_affected() > 0 { Written::Done } else { Written::Missing })
            }

            /// Inserts a ZITADEL instance quota (`AlreadyExists` when there is one, unless
            /// `replace`: then it is updated).
            pub(super) async fn zitadel_row(
                tx: &mut Tx<'_>,
                q: &$crate::domain::zitadel::QuotaRecord,
                replace: bool,
            ) -> Result<Written> {
                let inserted = sqlx::query(
                    "INSERT INTO zitadel_quotas (tenant_id, unit, sequence, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(q.tenant_id)
                .bind(q.unit.number())
                .bind(q.sequence)
                .bind(q.created_at)
                .bind(q.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                if inserted > 0 {
                    return Ok(Written::Done);
                }
                if !replace {
                    return Err(Error::AlreadyExists {
                        what: "quota",
                        existing: Some(q.unit.name().to_owned()),
                    });
                }
                sqlx::query(
                    "UPDATE zitadel_quotas SET sequence = $3, updated_at = $4 \
                     WHERE tenant_id = $1 AND unit = $2",
                )
                .bind(q.tenant_id)
                .bind(q.unit.number())
                .bind(q.sequence)
                .bind(q.updated_at)
                .execute(&mut **tx)
                .await
                .map(|_| Written::Done)
                .map_err(db_error)
            }

            /// Replaces a limit's notification rules, in the order given.
            pub(super) async fn replace_rules(
                tx: &mut Tx<'_>,
                r: &$crate::domain::aggregate::Rules<'_>,
            ) -> Result<()> {
                sqlx::query("DELETE FROM limit_notifications WHERE tenant_id = $1 AND limit_id = $2")
                    .bind(r.tenant_id)
                    .bind(r.limit_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                for (ordinal, rule) in r.rules.iter().enumerate() {
                    // Only ZITADEL's rules are kept here; alert rules live in `limit_alerts`.
                    let Some((percent, call_url)) = rule.zitadel_parts() else {
                        continue;
                    };
                    sqlx::query(
                        "INSERT INTO limit_notifications (tenant_id, limit_id, id, percent, repeats, \
                         call_url, ordinal, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(r.tenant_id)
                    .bind(r.limit_id)
                    .bind(&rule.id)
                    .bind(i64::from(percent))
                    .bind(rule.repeat)
                    .bind(call_url)
                    .bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
                    .bind(r.at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            pub(super) async fn record_adjustment(
                tx: &mut Tx<'_>,
                entry: &$crate::domain::service_quota::AuditEntry,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO service_quota_adjustments (id, tenant_id, code, scope_ref, \
                     old_limit, new_limit, key_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(entry.id)
                .bind(entry.tenant_id)
                .bind(&entry.code)
                .bind(entry.reference.to_json())
                .bind(entry.old_limit)
                .bind(entry.new_limit)
                .bind(&entry.key_id)
                .bind(entry.at)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Adds a key (in an aggregate's transaction, or alone on the pool).
            pub async fn insert_key<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                k: &ApiKey,
            ) -> Result<()> {
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
                .execute(executor)
                .await
                .map(drop)
                .map_err(db_error)
            }
        }
    };
}

pub(crate) use aggregate_rows;
