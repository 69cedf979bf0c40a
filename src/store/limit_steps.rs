//! A limit's row, defined once: its columns ([`limit_columns!`]), the statements that write it
//! (created unless its id exists, put over any owner, or replaced only by its own owner), and one
//! `bind` per backend, expanded by [`limit_steps!`] beside `limit_store!` and `aggregate_store!`,
//! which call it. Reads select the same columns (`LIMIT_COLUMNS` in `shared_store!`).

use std::sync::LazyLock;

/// The columns of a limit's row, in the order `limit_steps::bind` binds them ($1 to $14). A
/// macro, not a const, so that `concat!` can build the read's `SELECT` at compile time.
macro_rules! limit_columns {
    () => {
        "tenant_id, id, selector, metric, amount, window_spec, blocking, owner, created_at, \
         updated_at, per, family, expires_at, shadow"
    };
}

pub(crate) use limit_columns;

/// The columns that a write never changes once the row exists: its key, its owner and its birth.
/// Every other column is one of the limit's terms, which a put or an owner's upsert replaces.
const FIXED: [&str; 4] = ["tenant_id", "id", "owner", "created_at"];

/// The insert every write starts from, with the given conflict clause.
fn insert_with(on_conflict: &str) -> String {
    let values: Vec<String> = (1..=limit_columns!().split(", ").count())
        .map(|n| format!("${n}"))
        .collect();
    format!(
        "INSERT INTO limits ({}) VALUES ({}) {on_conflict}",
        limit_columns!(),
        values.join(", ")
    )
}

/// `SET` terms copying the given columns from the refused row (`excluded`).
fn from_excluded<'c>(columns: impl Iterator<Item = &'c str>) -> String {
    columns
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The limit's terms: every column but the fixed ones.
fn terms() -> impl Iterator<Item = &'static str> {
    limit_columns!().split(", ").filter(|c| !FIXED.contains(c))
}

/// Creates the limit unless one with its id exists.
pub(super) static INSERT: LazyLock<String> =
    LazyLock::new(|| insert_with("ON CONFLICT DO NOTHING"));

/// Creates the limit, or replaces an existing one's terms and owner (a native put).
pub(super) static PUT: LazyLock<String> = LazyLock::new(|| {
    let set = from_excluded(terms().chain(["owner"]));
    insert_with(&format!("ON CONFLICT (tenant_id, id) DO UPDATE SET {set}"))
});

/// Creates the limit, or replaces an existing one's terms when the same owner holds it (an
/// aggregate's limits): no row is touched when another owner holds the id.
pub(super) static UPSERT_OWN: LazyLock<String> = LazyLock::new(|| {
    let set = from_excluded(terms());
    insert_with(&format!(
        "ON CONFLICT (tenant_id, id) DO UPDATE SET {set} WHERE limits.owner = excluded.owner"
    ))
});

/// Defines the `limit_steps` module for a backend whose database type is `$db`.
macro_rules! limit_steps {
    ($db:ty) => {
        /// A limit's row, written on the pool or inside a transaction.
        mod limit_steps {
            use super::*;
            use $crate::store::limit_steps::{INSERT, PUT, UPSERT_OWN};

            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
                serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
            }

            /// Binds a limit's row, one value per column of `limit_columns!`, in its order.
            fn bind<'q>(query: Query<'q>, l: &'q Limit) -> Result<Query<'q>> {
                Ok(query
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
                    .bind(l.mode == $crate::domain::limit::Mode::Shadow))
            }

            /// Runs one of the row's statements; true when a row was written.
            async fn write<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                sql: &str,
                l: &Limit,
            ) -> Result<bool> {
                let done = bind(sqlx::query(sql), l)?
                    .execute(executor)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            /// Creates the limit unless one with its id exists; true when it was created.
            pub async fn insert<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                l: &Limit,
            ) -> Result<bool> {
                write(executor, &INSERT, l).await
            }

            /// Creates the limit or replaces an existing one's terms and owner.
            pub async fn put<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                l: &Limit,
            ) -> Result<()> {
                write(executor, &PUT, l).await.map(drop)
            }

            /// Creates or replaces a limit unless another owner holds its id; false then.
            pub async fn upsert_own<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                l: &Limit,
            ) -> Result<bool> {
                write(executor, &UPSERT_OWN, l).await
            }
        }
    };
}

pub(crate) use limit_steps;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_names_one_placeholder_per_column() {
        assert!(INSERT.contains("$14)"));
        assert!(!INSERT.contains("$15"));
    }

    #[test]
    fn a_put_replaces_the_owner_but_never_the_key_or_the_birth() {
        assert!(PUT.contains("owner = excluded.owner"));
        assert!(!PUT.contains("created_at = excluded"));
        assert!(!PUT.contains(" id = excluded"));
        assert!(!PUT.contains("tenant_id = excluded"));
        assert!(PUT.contains("shadow = excluded.shadow"));
    }

    #[test]
    fn an_owners_upsert_keeps_the_owner_and_touches_only_its_own_rows() {
        assert!(!UPSERT_OWN.contains("owner = excluded.owner,"));
        assert!(UPSERT_OWN.ends_with("WHERE limits.owner = excluded.owner"));
        assert!(UPSERT_OWN.contains("updated_at = excluded.updated_at"));
    }
}
