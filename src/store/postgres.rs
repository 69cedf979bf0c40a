//! The PostgreSQL backend: production, shared by several replicas.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use uuid::Uuid;

use super::db_error;
use super::sql::shared_store;
use crate::domain::principal::{ApiKey, Roles, SecretHash};
use crate::domain::tenant::{Tenant, TenantName};
use crate::domain::{Error, Result};

/// A pool of PostgreSQL connections.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects; fails when the server cannot be reached within a few seconds.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self { pool })
    }

    /// Applies `migrations/postgres`.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }
}

shared_store!(PgStore, PgRow);
