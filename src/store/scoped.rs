//! A store inside one transaction: every port of [`AnyStore`] over a pool of exactly one
//! connection whose transaction stays open until [`Scope::commit`] or [`Scope::rollback`]. The
//! ports' own transactions (aggregate writes, batches) become savepoints inside it, so a whole
//! sequence of domain calls (a seed file's tenant) commits together or not at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database, Executor, Pool};

use super::{AnyStore, PgStore, SqliteStore, db_error};
use crate::domain::Result;

/// How long a call inside the scope waits for its one connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The open transaction of a scoped store: commit it or roll it back.
#[must_use = "a scope rolls back unless committed"]
pub struct Scope(Inner);

enum Inner {
    Postgres(Pool<sqlx::Postgres>),
    Sqlite(Pool<sqlx::Sqlite>),
}

impl AnyStore {
    /// A store on the same database whose every write joins one new transaction, and that
    /// transaction's [`Scope`]. Dropping the scope without committing rolls it back when the
    /// connection closes.
    pub async fn begin_scope(&self) -> Result<(AnyStore, Scope)> {
        Ok(match self {
            AnyStore::Postgres(s) => {
                let pool = one_connection(&s.pool, "BEGIN").await?;
                let store = AnyStore::Postgres(PgStore::over(pool.clone()));
                (store, Scope(Inner::Postgres(pool)))
            }
            AnyStore::Sqlite(s) => {
                // The write lock at once, so a writer elsewhere cannot make the scope's first
                // write fail as busy half-way through.
                let pool = one_connection(&s.pool, "BEGIN IMMEDIATE").await?;
                let store = AnyStore::Sqlite(SqliteStore {
                    pool: pool.clone(),
                    _checkpoints: None,
                });
                (store, Scope(Inner::Sqlite(pool)))
            }
        })
    }
}

impl Scope {
    /// Commits everything written through the scoped store, and closes it.
    pub async fn commit(self) -> Result<()> {
        match self.0 {
            Inner::Postgres(pool) => finish(pool, "COMMIT").await,
            Inner::Sqlite(pool) => finish(pool, "COMMIT").await,
        }
    }

    /// Undoes everything written through the scoped store, and closes it.
    pub async fn rollback(self) {
        let done = match self.0 {
            Inner::Postgres(pool) => finish(pool, "ROLLBACK").await,
            Inner::Sqlite(pool) => finish(pool, "ROLLBACK").await,
        };
        if let Err(e) = done {
            // Closing the connection rolls back all the same.
            tracing::warn!(error = %e, "a scoped store's rollback failed");
        }
    }
}

/// A pool of one connection to `like`'s database, with a transaction begun by `begin` left open
/// on it. The connection never idles out, and a second one is refused: a replacement would have
/// no transaction, and what it wrote would commit on its own.
async fn one_connection<DB: Database>(like: &Pool<DB>, begin: &'static str) -> Result<Pool<DB>> {
    let connected = Arc::new(AtomicBool::new(false));
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(move |_, _| {
            let again = connected.swap(true, Ordering::SeqCst);
            Box::pin(async move {
                if again {
                    return Err(sqlx::Error::Configuration(
                        "a scoped store lost its connection, and with it its transaction".into(),
                    ));
                }
                Ok(())
            })
        })
        .connect_with((*like.connect_options()).clone())
        .await
        .map_err(db_error)?;
    let mut conn = pool.acquire().await.map_err(db_error)?;
    let tx = conn.begin_with(begin).await.map_err(db_error)?;
    // The transaction outlives this handle: the connection goes back to the pool inside it (the
    // driver counts it open, so the ports' own `begin` become savepoints), and `finish` ends it.
    std::mem::forget(tx);
    drop(conn);
    Ok(pool)
}

/// Ends the scope's transaction with `statement` and closes its pool.
async fn finish<DB: Database>(pool: Pool<DB>, statement: &'static str) -> Result<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let ended = match pool.acquire().await {
        Ok(mut conn) => conn.execute(statement).await.map(drop).map_err(db_error),
        Err(e) => Err(db_error(e)),
    };
    pool.close().await;
    ended
}
