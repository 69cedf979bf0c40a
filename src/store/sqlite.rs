//! The SQLite backend: the zero-set-up default, one file under `./data/`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use uuid::Uuid;

use super::db_error;
use super::sql::shared_store;
use crate::domain::principal::{ApiKey, Roles, SecretHash};
use crate::domain::tenant::{Tenant, TenantName};
use crate::domain::{Error, Result};

/// A pool of connections to one SQLite file, in WAL mode with full fsync on commit, so an
/// acknowledged write survives a crash of the process or the machine.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its folder if needed) the database file named by `url`.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
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
}

shared_store!(SqliteStore, SqliteRow);
