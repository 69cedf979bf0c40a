//! The SQLite backend: the zero-set-up default, one file under `./data/`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::HashMap;

use uuid::Uuid;

use super::aggregate::aggregate_store;
use super::aggregate_rows::aggregate_rows;
use super::alerts::alert_store;
use super::audit::audit_store;
use super::batch_steps::batch_steps;
use super::carry::carry_steps;
use super::chat::chat_store;
use super::confluent::confluent_store;
use super::datarobot::datarobot_store;
use super::db_error;
use super::history::history_store;
use super::limit_steps::limit_steps;
use super::limits::limit_store;
use super::notifications::notification_store;
use super::pages::page_store;
use super::retention::retention_store;
use super::service_quota::service_quota_store;
use super::sql::shared_store;
use super::tenants::tenant_store;
use super::zitadel::zitadel_store;

mod counters;

pub(super) use self::counters::{EXISTING_COUNTERS, key_at, keys_json};
use crate::domain::datarobot::{Page, Quota, QuotaFilter, Template};
use crate::domain::limit::{Amount, Limit, Subject};
use crate::domain::principal::{ApiKey, Roles, SecretHash};
use crate::domain::tenant::{Tenant, TenantName};
use crate::domain::usage::batch::{
    BatchReads, BatchState, BatchWrites, CounterKey, CounterRow, IdempotencyKey, IdempotencyRecord,
    LeaseRow,
};
use crate::domain::window::{Window, WindowSpec};
use crate::domain::{Error, Result};

/// A pool of connections to one SQLite file in WAL mode. With full sync (the default) every
/// commit reaches the disk before it is acknowledged; with normal sync it reaches the operating
/// system, which survives a crash of the process but not a power loss.
///
/// The WAL is copied into the database by a task of its own ([`Checkpoints`]), not by the
/// commit that makes it pass SQLite's threshold: that commit is a batch's, and every job queued
/// behind it (any tenant's) would wait for the copy and its fsync.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// The checkpointing task, stopped when the last clone of the store is dropped (`None` for
    /// a scoped store, whose one connection holds a transaction).
    pub(crate) _checkpoints: Option<Arc<Checkpoints>>,
}

/// Pages the WAL may reach before a commit checkpoints it itself: only a backstop, for when the
/// checkpointing task falls behind (SQLite's default is 1,000).
const WAL_BACKSTOP_PAGES: &str = "10000";

/// Rows a statement's worker may run ahead of the task reading them (sqlx's default is 50). A
/// batch reads one row a counter: with room for all of them, a statement of 2,000 rows runs to
/// its end at once, rather than waiting about 40 times for the reading task to be scheduled.
const ROW_BUFFER: usize = 4096;
/// How often the checkpointing task copies what the WAL holds into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A task that checkpoints the WAL in the background (`PASSIVE`: it takes no write lock and waits
/// for no reader, so batches go on meanwhile); aborted on drop.
pub(crate) struct Checkpoints(tokio::task::AbortHandle);

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpoints {
    fn start(pool: SqlitePool) -> Arc<Self> {
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !pool.is_closed() {
                every.tick().await;
                let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await;
                if let Err(e) = done {
                    if !pool.is_closed() {
                        tracing::warn!(error = %e, "checkpointing the SQLite WAL failed");
                    }
                }
            }
        });
        Arc::new(Self(task.abort_handle()))
    }
}

impl SqliteStore {
    /// One batch at a time: a batch holds SQLite's one write lock.
    const BATCH_LANES: usize = 1;

    /// Opens (creating it and its folder if needed) the database file named by `url`.
    pub async fn connect(url: &str, full_sync: bool) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES)
            .foreign_keys(true)
            .row_buffer_size(ROW_BUFFER);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open SQLite: {e}")))?;
        let checkpoints = Some(Checkpoints::start(pool.clone()));
        Ok(Self {
            pool,
            _checkpoints: checkpoints,
        })
    }

    /// Applies `migrations/sqlite`.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// A batch's transaction, holding SQLite's write lock from its first statement
    /// (`BEGIN IMMEDIATE`), so nothing can change a counter between read and write. Inside a
    /// scoped store ([`AnyStore::begin_scope`](super::AnyStore::begin_scope)), whose transaction
    /// holds the lock already, it is a savepoint.
    async fn begin_batch(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
        match pool.begin_with("BEGIN IMMEDIATE").await {
            Err(sqlx::Error::InvalidSavePointStatement) => pool.begin().await.map_err(db_error),
            begun => begun.map_err(db_error),
        }
    }
}

/// What a batch's lock keeps for its write: the rowid of each counter it read.
type Located = counters::Rowids;

shared_store!(SqliteStore, Sqlite, SqliteRow);
tenant_store!(SqliteStore, Sqlite, SqliteRow);
batch_steps!(Sqlite, SqliteRow);
limit_steps!(Sqlite);
limit_store!(SqliteStore, Sqlite, SqliteRow);
chat_store!(SqliteStore, Sqlite, SqliteRow);
notification_store!(SqliteStore, Sqlite, SqliteRow);
alert_store!(SqliteStore, Sqlite, SqliteRow);
zitadel_store!(SqliteStore, Sqlite, SqliteRow);
confluent_store!(SqliteStore, Sqlite, SqliteRow);
datarobot_store!(SqliteStore, Sqlite, SqliteRow);
service_quota_store!(SqliteStore, Sqlite, SqliteRow);
page_store!(SqliteStore, SqliteRow);
retention_store!(SqliteStore);
carry_steps!(Sqlite);
aggregate_rows!(Sqlite);
aggregate_store!(SqliteStore, Sqlite);
audit_store!(SqliteStore, Sqlite, SqliteRow);
history_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wal_is_copied_into_the_database_by_the_store_s_own_task_not_by_a_commit() {
        let dir = std::env::temp_dir().join(format!("quotaplane-wal-{}", Uuid::new_v4()));
        let file = dir.join("wal.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", file.display()), true)
            .await
            .expect("connect");
        let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .expect("pragma");
        assert_eq!(backstop.to_string(), WAL_BACKSTOP_PAGES);

        // About 750 pages: fewer than even SQLite's default threshold, so no commit copies them.
        let mut tx = store.pool.begin().await.expect("begin");
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(&mut *tx)
            .await
            .expect("create");
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO filler SELECT randomblob(1000) FROM n",
        )
        .execute(&mut *tx)
        .await
        .expect("fill");
        tx.commit().await.expect("commit");

        let copied = async {
            while std::fs::metadata(&file).map_or(0, |m| m.len()) < 3_000_000 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let waited = tokio::time::timeout(Duration::from_secs(10), copied).await;
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(waited.is_ok(), "the WAL was never checkpointed");
    }
}
