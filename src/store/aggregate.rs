//! Aggregate writes ([`crate::domain::aggregate`]): a quota's row, its limits and its unit of an
//! applied quota in one transaction. The SQL is the same in both dialects; [`aggregate_store!`]
//! expands it for a backend beside `shared_store!` (whose step modules it reuses).

/// Implements [`crate::domain::aggregate::AggregateStore`] for a backend struct with a `pool`
/// field and a `begin_batch` transaction (SQLite: the write lock from the first statement).
macro_rules! aggregate_store {
    ($store:ty, $db:ty) => {
        impl $crate::domain::aggregate::AggregateStore for $store {
            async fn write_aggregate(
                &self,
                write: &$crate::domain::aggregate::AggregateWrite<'_>,
            ) -> Result<$crate::domain::aggregate::Written> {
                use $crate::domain::aggregate::{Row, Written};
                let mut tx = Self::begin_batch(&self.pool).await?;
                let written = aggregate_steps::write(&mut tx, write).await;
                match written {
                    Ok(Written::Done) => {
                        tx.commit().await.map_err(db_error)?;
                        Ok(Written::Done)
                    }
                    // A principal claimed meanwhile by a concurrent writer: say by whom.
                    Err(Error::AlreadyExists { what, existing }) => {
                        drop(tx);
                        let (Row::InsertClientQuota(q) | Row::UpdateClientQuota(q)) = write.row
                        else {
                            return Err(Error::AlreadyExists { what, existing });
                        };
                        let mut tx = Self::begin_batch(&self.pool).await?;
                        match confluent_steps::clash(&mut tx, q).await? {
                            Some(clash) => Ok(Written::Clash(clash)),
                            None => Err(Error::AlreadyExists { what, existing }),
                        }
                    }
                    // Anything else rolls back when `tx` is dropped.
                    other => other,
                }
            }
        }

        /// The steps of an aggregate write, inside its transaction.
        mod aggregate_steps {
            use super::*;
            use super::aggregate_rows::*;
            use $crate::domain::aggregate::{
                AggregateWrite, OwnedLimits, Row, Unit, UnitChange, Written,
            };

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// The unit to take (a quota past its applied limit is refused before anything
            /// else is looked at), the row, the limits, then the unit to give back; anything
            /// but `Done` leaves the transaction to be rolled back.
            pub async fn write(tx: &mut Tx<'_>, w: &AggregateWrite<'_>) -> Result<Written> {
                if let Some(UnitChange::Take(unit)) = &w.unit {
                    if !take(tx, unit).await? {
                        return Ok(Written::NoRoom);
                    }
                }
                // Read (and on PostgreSQL lock) before the limits change: a limit the write
                // deletes takes its counters with it.
                if let Row::AdjustAppliedQuota { limit, default_id: Some(id), .. } = w.row {
                    // Before the carry reads the default's partition: see `counter_of`.
                    lock_limit(tx, limit.tenant_id, id).await?;
                }
                let carried = carry_steps::read(tx, &w.carries).await?;
                let row = match w.row {
                    Row::InsertClientQuota(q) => match confluent_steps::clash(tx, q).await? {
                        Some(clash) => Written::Clash(clash),
                        None => {
                            confluent_steps::insert_row(tx, q).await?;
                            confluent_steps::insert_principals(tx, q).await?;
                            Written::Done
                        }
                    },
                    Row::UpdateClientQuota(q) => match confluent_steps::clash(tx, q).await? {
                        Some(clash) => Written::Clash(clash),
                        None => confluent_steps::update_row(tx, q).await?,
                    },
                    Row::DeleteClientQuota { tenant_id, id } => {
                        let sql = "DELETE FROM confluent_client_quotas WHERE tenant_id = $1 AND id = $2";
                        delete(tx, sql, tenant_id, id).await?
                    }
                    Row::InsertDataRobotQuota(q) => {
                        datarobot_row(tx, q, true).await?;
                        Written::Done
                    }
                    Row::UpdateDataRobotQuota(q) => datarobot_row(tx, q, false).await?,
                    Row::DeleteDataRobotQuota { tenant_id, id } => {
                        let sql = "DELETE FROM datarobot_quotas WHERE tenant_id = $1 AND id = $2";
                        delete(tx, sql, tenant_id, id).await?
                    }
                    Row::PutZitadelQuota { record, replace } => {
                        zitadel_row(tx, record, replace).await?
                    }
                    Row::DeleteZitadelQuota { tenant_id, unit } => {
                        sqlx::query("DELETE FROM zitadel_quotas WHERE tenant_id = $1 AND unit = $2")
                            .bind(tenant_id)
                            .bind(unit.number())
                            .execute(&mut **tx)
                            .await
                            .map(|done| if done.rows_affected() > 0 { Written::Done } else { Written::Missing })
                            .map_err(db_error)?
                    }
                    Row::AdjustAppliedQuota { limit, audit, .. } => {
                        if !limit_steps::upsert_own(&mut **tx, limit).await? {
                            return Ok(Written::Taken(limit.id.clone()));
                        }
                        if let Some(audit) = audit {
                            record_adjustment(tx, audit).await?;
                        }
                        Written::Done
                    }
                    Row::RetireLimit { tenant_id, id } => {
                        let sql = "DELETE FROM limits WHERE tenant_id = $1 AND id = $2";
                        delete(tx, sql, tenant_id, id).await?
                    }
                    Row::SetChatQuota { tenant_id, user_id, changes, at } => {
                        chat_steps::set(&mut **tx, tenant_id, user_id, changes, at).await?;
                        Written::Done
                    }
                    Row::InsertKey(k) => {
                        insert_key(&mut **tx, k).await?;
                        Written::Done
                    }
                    Row::DeleteKey { tenant_id, id } => {
                        let sql = "DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2";
                        delete(tx, sql, tenant_id, id).await?
                    }
                };
                if row != Written::Done {
                    return Ok(row);
                }
                if let Some(owned) = &w.limits {
                    if let Some(taken) = replace_limits(tx, owned).await? {
                        return Ok(Written::Taken(taken));
                    }
                }
                carry_steps::write(tx, &w.carries, &carried).await?;
                if let Some(rules) = &w.rules {
                    replace_rules(tx, rules).await?;
                }
                if let Some(UnitChange::GiveBack(unit)) = &w.unit {
                    give_back(tx, unit).await?;
                }
                audit_steps::append_some(&mut **tx, w.audit).await?;
                Ok(Written::Done)
            }

            /// Makes the owner's limits exactly `owned.limits`; the id of a wanted limit that
            /// another owner holds, if any.
            async fn replace_limits(tx: &mut Tx<'_>, owned: &OwnedLimits) -> Result<Option<String>> {
                let held: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM limits WHERE tenant_id = $1 AND owner = $2",
                )
                .bind(owned.tenant_id)
                .bind(&owned.owner)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
                for id in held.iter().filter(|id| !owned.limits.iter().any(|l| &l.id == *id)) {
                    sqlx::query("DELETE FROM limits WHERE tenant_id = $1 AND id = $2")
                        .bind(owned.tenant_id)
                        .bind(id)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
                for l in &owned.limits {
                    if !limit_steps::upsert_own(&mut **tx, l).await? {
                        return Ok(Some(l.id.clone()));
                    }
                }
                Ok(None)
            }

            /// Which counter a unit counts on: the reference's own limit when it has one, else
            /// its partition of the code's default. The default's row is locked first (a no-op
            /// `UPDATE`, a row lock on PostgreSQL; SQLite's write lock is already held), as an
            /// adjustment that gives the reference its own limit locks it, so the two take turns
            /// and the unit never lands on a partition whose count was just carried away.
            async fn counter_of(tx: &mut Tx<'_>, unit: &Unit) -> Result<(String, String)> {
                lock_limit(tx, unit.tenant_id, &unit.default_id).await?;
                if unit.own_id != unit.default_id {
                    let own: Option<i64> = sqlx::query_scalar(
                        "SELECT amount FROM limits WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(unit.tenant_id)
                    .bind(&unit.own_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    if own.is_some() {
                        return Ok((unit.own_id.clone(), String::new()));
                    }
                }
                Ok((unit.default_id.clone(), unit.per_value.clone()))
            }

            /// Counts one unit against the applied limit, in the single period of a limit without
            /// a window; false when the limit has no room (or is gone).
            async fn take(tx: &mut Tx<'_>, unit: &Unit) -> Result<bool> {
                let (limit_id, per_value) = counter_of(tx, unit).await?;
                let done = sqlx::query(
                    "INSERT INTO counters \
                     (tenant_id, limit_id, per_value, period_start, period_end, used, updated_at) \
                     SELECT $1, $2, $5, 0, $3, 1, $4 FROM limits \
                     WHERE tenant_id = $1 AND id = $2 AND (amount < 0 OR amount >= 1) \
                     ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
                     DO UPDATE SET used = counters.used + 1, updated_at = excluded.updated_at \
                     WHERE EXISTS (SELECT 1 FROM limits l WHERE l.tenant_id = $1 AND l.id = $2 \
                                   AND (l.amount < 0 OR counters.used + 1 <= l.amount))",
                )
                .bind(unit.tenant_id)
                .bind(&limit_id)
                .bind(i64::MAX)
                .bind(unit.at_ms)
                .bind(&per_value)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn give_back(tx: &mut Tx<'_>, unit: &Unit) -> Result<()> {
                let (limit_id, per_value) = counter_of(tx, unit).await?;
                sqlx::query(
                    "UPDATE counters SET used = CASE WHEN used > 0 THEN used - 1 ELSE 0 END \
                     WHERE tenant_id = $1 AND limit_id = $2 AND per_value = $3 AND period_start = 0",
                )
                .bind(unit.tenant_id)
                .bind(&limit_id)
                .bind(&per_value)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Locks a limit's row until the write commits (a no-op `UPDATE`: a row lock on
            /// PostgreSQL; SQLite's write lock is already held).
            async fn lock_limit(tx: &mut Tx<'_>, tenant_id: Uuid, id: &str) -> Result<()> {
                sqlx::query("UPDATE limits SET updated_at = updated_at WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map(drop)
                    .map_err(db_error)
            }
        }
    };
}

pub(crate) use aggregate_store;
