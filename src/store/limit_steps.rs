//! A limit's row, inserted or updated on the pool or inside a transaction: the SQL both dialects
//! share, expanded for a backend by [`limit_steps!`] beside `limit_store!`, which calls it.

/// Defines the `limit_steps` module for a backend whose database type is `$db`.
macro_rules! limit_steps {
    ($db:ty) => {
        /// A limit's row, inserted or updated on the pool or inside a transaction.
        mod limit_steps {
            use super::*;

            fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
                serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
            }

            /// Creates the limit unless one with its id exists; true when it was created.
            pub async fn insert<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                l: &Limit,
            ) -> Result<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, \
                     blocking, owner, created_at, updated_at, per, family, expires_at, shadow) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(l.tenant_id)
                .bind(&l.id)
                .bind(json(l.selector.as_map())?)
                .bind(&l.metric)
                .bind(l.amount.to_stored())
                .bind(json(&l.window.spec())?)
                .bind(l.blocking)
                .bind(&l.owner)
                .bind(l.created_at)
                .bind(l.updated_at)
                .bind(json(&l.per)?)
                .bind(&l.family)
                .bind(l.expires_at)
                .bind(l.mode == $crate::domain::limit::Mode::Shadow)
                .execute(executor)
                .await
                .map_err(db_error)?
                .rows_affected();
                Ok(inserted > 0)
            }

            /// Replaces the terms of an existing limit.
            pub async fn update<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                l: &Limit,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE limits SET selector = $3, metric = $4, amount = $5, window_spec = $6, \
                     blocking = $7, owner = $8, updated_at = $9, per = $10, family = $11, \
                     expires_at = $12, shadow = $13 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(l.tenant_id)
                .bind(&l.id)
                .bind(json(l.selector.as_map())?)
                .bind(&l.metric)
                .bind(l.amount.to_stored())
                .bind(json(&l.window.spec())?)
                .bind(l.blocking)
                .bind(&l.owner)
                .bind(l.updated_at)
                .bind(json(&l.per)?)
                .bind(&l.family)
                .bind(l.expires_at)
                .bind(l.mode == $crate::domain::limit::Mode::Shadow)
                .execute(executor)
                .await
                .map(drop)
                .map_err(db_error)
            }
        }
    };
}

pub(crate) use limit_steps;
