//! Counts carried between counters inside an aggregate write ([`crate::domain::aggregate::Carry`]):
//! read (and on PostgreSQL row-locked, by a no-op `UPDATE`) before the write changes any limit,
//! written after, so a subject that moves between a default and a limit of its own keeps the
//! period's usage. Expanded for a backend by [`carry_steps!`] beside `aggregate_store!`.

/// Defines the `carry_steps` module for a backend whose database type is `$db`.
macro_rules! carry_steps {
    ($db:ty) => {
        /// The carries of an aggregate write, inside its transaction.
        mod carry_steps {
            use super::*;
            use $crate::domain::aggregate::Carry;
            use $crate::domain::usage::batch::CounterKey;

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// What each carry's `from` counter holds now (`None`: no row). The `UPDATE` that
            /// changes nothing takes the row's lock on PostgreSQL, so a batch counting on it
            /// meanwhile waits for this write and counts on the moved counter after it.
            pub(super) async fn read(tx: &mut Tx<'_>, carries: &[Carry]) -> Result<Vec<Option<i64>>> {
                let mut held = Vec::with_capacity(carries.len());
                for carry in carries {
                    let CounterKey { tenant_id, limit_id, per_value, period_start } = &carry.from;
                    let used: Option<i64> = sqlx::query_scalar(
                        "UPDATE counters SET used = used WHERE tenant_id = $1 AND limit_id = $2 \
                         AND per_value = $3 AND period_start = $4 RETURNING used",
                    )
                    .bind(tenant_id)
                    .bind(limit_id)
                    .bind(per_value)
                    .bind(period_start)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    held.push(used);
                }
                Ok(held)
            }

            /// Sets each carry's `to` counter to what its `from` held (`held`, from [`read`]).
            pub(super) async fn write(
                tx: &mut Tx<'_>,
                carries: &[Carry],
                held: &[Option<i64>],
            ) -> Result<()> {
                for (carry, used) in carries.iter().zip(held) {
                    let CounterKey { tenant_id, limit_id, per_value, period_start } = &carry.to;
                    let sql = if used.is_some() {
                        "INSERT INTO counters \
                         (tenant_id, limit_id, period_start, period_end, used, updated_at, per_value) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
                         DO UPDATE SET used = excluded.used, updated_at = excluded.updated_at"
                    } else {
                        // Nothing to carry: only a row the target already has goes to 0.
                        "UPDATE counters SET used = $5, updated_at = $6 WHERE tenant_id = $1 \
                         AND limit_id = $2 AND period_start = $3 AND per_value = $7 AND $4 = $4"
                    };
                    sqlx::query(sql)
                        .bind(tenant_id)
                        .bind(limit_id)
                        .bind(period_start)
                        .bind(carry.period_end)
                        .bind(used.unwrap_or(0))
                        .bind(carry.at_ms)
                        .bind(per_value)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use carry_steps;
