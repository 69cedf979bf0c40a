//! The SQLite backend: the zero-set-up default, one file under `./data/`.

use std::str::FromStr;
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
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
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
            .foreign_keys(true);
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
        Ok(Self { pool })
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

    /// Each counter of `keys` with its limit's terms, in `tx`; a counter not yet written reads 0.
    async fn counters_with_terms<'k>(
        tx: &mut Transaction<'static, Sqlite>,
        keys: impl Iterator<Item = &'k CounterKey>,
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        let mut found = HashMap::new();
        for key in keys {
            let row = sqlx::query(
                "SELECT l.amount, l.blocking, c.used FROM limits l LEFT JOIN counters c \
                 ON c.tenant_id = l.tenant_id AND c.limit_id = l.id AND c.period_start = $3 \
                 AND c.per_value = $4 \
                 WHERE l.tenant_id = $1 AND l.id = $2",
            )
            .bind(key.tenant_id)
            .bind(&key.limit_id)
            .bind(key.period_start)
            .bind(&key.per_value)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
            if let Some(r) = row {
                let counter = CounterRow {
                    used: r
                        .try_get::<Option<i64>, _>("used")
                        .map_err(db_error)?
                        .unwrap_or(0),
                    amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                    blocking: r.try_get("blocking").map_err(db_error)?,
                };
                found.insert(key.clone(), counter);
            }
        }
        Ok(found)
    }

    /// The usage of the counters that exist among `keys` (one indexed look-up each, in-process).
    async fn read_counters(
        pool: &SqlitePool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, i64>> {
        let mut conn = pool.acquire().await.map_err(db_error)?;
        let mut found = HashMap::with_capacity(keys.len());
        for key in keys {
            let used: Option<i64> = sqlx::query_scalar(
                "SELECT used FROM counters WHERE tenant_id = $1 AND limit_id = $2 \
                 AND period_start = $3 AND per_value = $4",
            )
            .bind(key.tenant_id)
            .bind(&key.limit_id)
            .bind(key.period_start)
            .bind(&key.per_value)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
            if let Some(used) = used {
                found.insert(key.clone(), used);
            }
        }
        Ok(found)
    }

    /// Writes each changed counter once.
    async fn write_counters(
        tx: &mut Transaction<'static, Sqlite>,
        counters: &[(CounterKey, i64, i64)],
        now_ms: i64,
    ) -> Result<()> {
        for (key, period_end, used) in counters {
            sqlx::query(
                "INSERT INTO counters \
                 (tenant_id, limit_id, period_start, period_end, used, updated_at, per_value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
                 DO UPDATE SET used = excluded.used, updated_at = excluded.updated_at",
            )
            .bind(key.tenant_id)
            .bind(&key.limit_id)
            .bind(key.period_start)
            .bind(period_end)
            .bind(used)
            .bind(now_ms)
            .bind(&key.per_value)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        Ok(())
    }
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
aggregate_rows!(Sqlite);
aggregate_store!(SqliteStore, Sqlite);
audit_store!(SqliteStore, Sqlite, SqliteRow);
history_store!(SqliteStore);
