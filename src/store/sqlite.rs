//! The SQLite backend: the zero-set-up default, one file under `./data/`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::{HashMap, HashSet};

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

    /// Reads every counter with its limit's terms; a counter not yet written reads 0 (and one
    /// of `_full` partitions is never written).
    async fn lock_counters(
        tx: &mut Transaction<'static, Sqlite>,
        reads: &BatchReads,
        _full: &HashSet<CounterKey>,
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        Self::counters_with_terms(tx, reads.counters.iter().map(|(key, _)| key)).await
    }

    /// The counters of `keys` as last committed: a deferred transaction, so one WAL snapshot
    /// serves every read and the write lock is never taken.
    async fn read_counter_rows(
        pool: &SqlitePool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        let mut tx = pool.begin().await.map_err(db_error)?;
        let found = Self::counters_with_terms(&mut tx, keys.iter()).await?;
        tx.rollback().await.map_err(db_error)?;
        Ok(found)
    }

    /// Each counter of `keys` with its limit's terms, in `tx`, in one statement (the keys bound
    /// as one JSON array, see [`keys_json`]); a counter not yet written reads 0.
    async fn counters_with_terms<'k>(
        tx: &mut Transaction<'static, Sqlite>,
        keys: impl Iterator<Item = &'k CounterKey>,
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        let keys: Vec<&CounterKey> = keys.collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT k.key AS i, l.amount, l.blocking, c.used \
             FROM json_each($1) k \
             JOIN limits l ON l.tenant_id = unhex(k.value ->> 0) AND l.id = k.value ->> 1 \
             LEFT JOIN counters c ON c.tenant_id = l.tenant_id AND c.limit_id = l.id \
             AND c.per_value = k.value ->> 3 AND c.period_start = k.value ->> 2",
        )
        .bind(keys_json(keys.iter().map(|k| (*k, None))))
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key = key_at(&keys, r.try_get("i").map_err(db_error)?)?;
            let counter = CounterRow {
                used: r
                    .try_get::<Option<i64>, _>("used")
                    .map_err(db_error)?
                    .unwrap_or(0),
                amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                blocking: r.try_get("blocking").map_err(db_error)?,
            };
            found.insert((*key).clone(), counter);
        }
        Ok(found)
    }

    /// The usage of the counters that exist among `keys`, in one statement.
    async fn read_counters(
        pool: &SqlitePool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, i64>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = pool.acquire().await.map_err(db_error)?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(EXISTING_COUNTERS)
            .bind(keys_json(keys.iter().map(|k| (k, None))))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(i, used)| Ok((key_at(keys, i)?.clone(), used)))
            .collect()
    }

    /// Writes each changed counter once, in one statement.
    async fn write_counters(
        tx: &mut Transaction<'static, Sqlite>,
        counters: &[(CounterKey, i64, i64)],
        now_ms: i64,
    ) -> Result<()> {
        if counters.is_empty() {
            return Ok(());
        }
        // `WHERE true`: SQLite's upsert after `INSERT ... SELECT` needs it to parse.
        sqlx::query(
            "INSERT INTO counters \
             (tenant_id, limit_id, period_start, period_end, used, updated_at, per_value) \
             SELECT unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 4, value ->> 5, $2, \
             value ->> 3 FROM json_each($1) WHERE true \
             ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
             DO UPDATE SET used = excluded.used, updated_at = excluded.updated_at",
        )
        .bind(keys_json(
            counters
                .iter()
                .map(|(key, end, used)| (key, Some((*end, *used)))),
        ))
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db_error)
    }
}

/// The index in the array bound as `$1` (see [`keys_json`]) and the usage of each counter that
/// exists among the keys.
pub(super) const EXISTING_COUNTERS: &str = "SELECT k.key, c.used FROM json_each($1) k \
     JOIN counters c ON c.tenant_id = unhex(k.value ->> 0) AND c.limit_id = k.value ->> 1 \
     AND c.per_value = k.value ->> 3 AND c.period_start = k.value ->> 2";

/// The key at index `i` of the array bound with [`keys_json`].
pub(super) fn key_at<K>(keys: &[K], i: i64) -> Result<&K> {
    usize::try_from(i)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| Error::Internal(format!("no counter key at {i}")))
}

/// Counter keys as one JSON array to bind and read with `json_each`: each key an array
/// `[tenant id in hex, limit id, period start, per value]`, followed by its period's end and
/// usage when given. The tenant id is stored as a 16-byte blob, hence hex (`unhex` in SQL).
pub(super) fn keys_json<'k>(
    keys: impl Iterator<Item = (&'k CounterKey, Option<(i64, i64)>)>,
) -> String {
    let rows: Vec<serde_json::Value> = keys
        .map(|(key, written)| {
            let mut row = vec![
                key.tenant_id.simple().to_string().into(),
                key.limit_id.as_str().into(),
                key.period_start.into(),
                key.per_value.as_str().into(),
            ];
            if let Some((end, used)) = written {
                row.extend([end.into(), used.into()]);
            }
            serde_json::Value::Array(row)
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

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
