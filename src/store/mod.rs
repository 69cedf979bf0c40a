//! Storage: the domain's ports ([`crate::domain::ports`], one trait per aggregate) implemented
//! for PostgreSQL and SQLite, the backend chosen by the URL's scheme.
//!
//! Most SQL is the same text for both dialects (`$1` placeholders, `ON CONFLICT`, `RETURNING`), so
//! it is written once, one macro file per area (the `mod` lines below), expanded for each backend;
//! the row readers they share are in [`sql`]; what differs (connecting, taking the write lock for
//! a batch) lives in the backend's own file.

mod aggregate;
mod aggregate_rows;
mod alerts;
mod audit;
mod batch_steps;
mod carry;
mod chat;
mod ci;
mod confluent;
mod datarobot;
mod history;
mod limit_steps;
mod limits;
mod notifications;
mod pages;
mod partitions;
mod postgres;
/// The statement that locks a batch's counters on PostgreSQL, for the test of its plans.
#[doc(hidden)]
pub const POSTGRES_LOCK_COUNTERS: &str = postgres::LOCK_COUNTERS;
mod retention;
mod scoped;
mod service_quota;
mod sql;
mod sqlite;
mod tenants;
mod zitadel;
mod zitadel_limits;

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::audit::AuditRecord;
use crate::domain::confluent::ClientQuota;
use crate::domain::datarobot::{Page, Quota, QuotaFilter, Template};
use crate::domain::limit::Limit;
use crate::domain::notification::{Delivery, DueNotification, Notification};
use crate::domain::principal::{ApiKey, SecretHash};
use crate::domain::tenant::Tenant;
use crate::domain::usage::batch::{BatchReads, BatchState, BatchWrites, CounterKey, CounterRow};
use crate::domain::waldur::OwnLimits;
use crate::domain::zitadel::{QuotaRecord, Unit};
use crate::domain::{Error, Result};

pub use crate::domain::ports::{
    ChatQuotaStore, ConfluentStore, DataRobotStore, LimitStore, NotificationStore,
    ServiceQuotaStore, Store, TenantStore, ZitadelStore,
};
pub use postgres::PgStore;
pub use scoped::Scope;
pub use sqlite::SqliteStore;

/// How to open a store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// SQLite: fsync on every commit (`synchronous=FULL`) rather than only at checkpoints
    /// (`NORMAL`, which survives a crash of the process but not of the machine).
    pub sqlite_full_sync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sqlite_full_sync: true,
        }
    }
}

/// The store the server runs on: one of the two backends.
#[derive(Clone)]
pub enum AnyStore {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl AnyStore {
    /// Connects to `url` (`postgres://…` or `sqlite://…`) with default options and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url` with `options` and applies the migrations.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            AnyStore::Postgres(PgStore::connect(url).await?)
        } else if url.starts_with("sqlite:") {
            AnyStore::Sqlite(SqliteStore::connect(url, options.sqlite_full_sync).await?)
        } else {
            return Err(Error::Invalid {
                field: crate::domain::Field::Header("database-url".into()),
                message: "the database URL must start with postgres:// or sqlite:".into(),
            });
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the backend's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            AnyStore::Postgres(s) => s.migrate().await,
            AnyStore::Sqlite(s) => s.migrate().await,
        }
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Postgres(_) => "postgres",
            AnyStore::Sqlite(_) => "sqlite",
        }
    }
}

/// Forwards a call to whichever backend the store is.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Postgres($s) => $call.await,
            AnyStore::Sqlite($s) => $call.await,
        }
    };
}

pub(crate) use dispatch;

impl TenantStore for AnyStore {
    async fn ping(&self) -> Result<()> {
        dispatch!(self, s => s.ping())
    }
    async fn insert_tenant(&self, tenant: &Tenant, audit: &AuditRecord) -> Result<()> {
        dispatch!(self, s => s.insert_tenant(tenant, audit))
    }
    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>> {
        dispatch!(self, s => s.tenant(id))
    }
    async fn tenants(&self) -> Result<Vec<Tenant>> {
        dispatch!(self, s => s.tenants())
    }
    async fn tenant_named(&self, name: &str) -> Result<Option<Tenant>> {
        dispatch!(self, s => s.tenant_named(name))
    }
    async fn insert_key(&self, key: &ApiKey, audit: &AuditRecord) -> Result<()> {
        dispatch!(self, s => s.insert_key(key, audit))
    }
    async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>> {
        dispatch!(self, s => s.key_by_hash(hash))
    }
    async fn keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKey>> {
        dispatch!(self, s => s.keys(tenant_id))
    }
    async fn count_keys(&self) -> Result<i64> {
        dispatch!(self, s => s.count_keys())
    }
}

impl LimitStore for AnyStore {
    async fn count_limits(&self, tenant_id: Uuid) -> Result<i64> {
        dispatch!(self, s => s.count_limits(tenant_id))
    }
    async fn insert_limit(&self, limit: &Limit, audit: &AuditRecord) -> Result<bool> {
        dispatch!(self, s => s.insert_limit(limit, audit))
    }
    async fn put_limit(&self, limit: &Limit, audit: &AuditRecord) -> Result<bool> {
        dispatch!(self, s => s.put_limit(limit, audit))
    }
    async fn limit(&self, tenant_id: Uuid, id: &str) -> Result<Option<Limit>> {
        dispatch!(self, s => s.limit(tenant_id, id))
    }
    async fn limits(&self, tenant_id: Uuid) -> Result<Vec<Limit>> {
        dispatch!(self, s => s.limits(tenant_id))
    }
    async fn limits_fingerprint(
        &self,
        tenant_id: Uuid,
        metric: &str,
    ) -> Result<(i64, Option<String>)> {
        dispatch!(self, s => s.limits_fingerprint(tenant_id, metric))
    }
    async fn count_limits_upto(&self, tenant_id: Uuid, metric: &str, most: i64) -> Result<i64> {
        dispatch!(self, s => s.count_limits_upto(tenant_id, metric, most))
    }
    async fn each_limit_of_metric<F: FnMut(Limit) + Send>(
        &self,
        tenant_id: Uuid,
        metric: &str,
        each: F,
    ) -> Result<()> {
        dispatch!(self, s => s.each_limit_of_metric(tenant_id, metric, each))
    }
    async fn limits_selecting(
        &self,
        tenant_id: Uuid,
        metric: &str,
        subject: &crate::domain::limit::Subject,
    ) -> Result<Vec<Limit>> {
        dispatch!(self, s => s.limits_selecting(tenant_id, metric, subject))
    }
    async fn delete_limit(&self, tenant_id: Uuid, id: &str, audit: &AuditRecord) -> Result<bool> {
        dispatch!(self, s => s.delete_limit(tenant_id, id, audit))
    }
    async fn count_open_leases(&self, tenant_id: Uuid, now_ms: i64) -> Result<i64> {
        dispatch!(self, s => s.count_open_leases(tenant_id, now_ms))
    }
    async fn counter_values(&self, keys: &[CounterKey]) -> Result<HashMap<CounterKey, i64>> {
        dispatch!(self, s => s.counter_values(keys))
    }
    fn batch_lanes(&self) -> usize {
        match self {
            AnyStore::Postgres(s) => s.batch_lanes(),
            AnyStore::Sqlite(s) => s.batch_lanes(),
        }
    }
    async fn counter_rows(&self, keys: &[CounterKey]) -> Result<HashMap<CounterKey, CounterRow>> {
        dispatch!(self, s => s.counter_rows(keys))
    }
    async fn run_batch(
        &self,
        reads: &BatchReads,
        decide: &mut (dyn FnMut(&BatchState) -> BatchWrites + Send),
    ) -> Result<()> {
        dispatch!(self, s => s.run_batch(reads, decide))
    }
    async fn sweep(&self, now_ms: i64, thorough: bool) -> Result<()> {
        dispatch!(self, s => s.sweep(now_ms, thorough))
    }
}

impl ChatQuotaStore for AnyStore {
    async fn user_has_key(&self, tenant_id: Uuid, user_id: Uuid) -> Result<bool> {
        dispatch!(self, s => s.user_has_key(tenant_id, user_id))
    }
    async fn chat_quota(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Option<OwnLimits>> {
        dispatch!(self, s => s.chat_quota(tenant_id, user_id))
    }
    async fn chat_quotas(&self, tenant_id: Uuid) -> Result<Vec<(Uuid, OwnLimits)>> {
        dispatch!(self, s => s.chat_quotas(tenant_id))
    }
}

impl NotificationStore for AnyStore {
    async fn notification_rules(&self, tenant_id: Uuid) -> Result<Vec<(String, Notification)>> {
        dispatch!(self, s => s.notification_rules(tenant_id))
    }
    async fn claim_due_notifications(
        &self,
        now_ms: i64,
        claim_until_ms: i64,
        max: i64,
    ) -> Result<Vec<DueNotification>> {
        dispatch!(self, s => s.claim_due_notifications(now_ms, claim_until_ms, max))
    }
    async fn record_delivery(&self, id: Uuid, delivery: &Delivery, now_ms: i64) -> Result<()> {
        dispatch!(self, s => s.record_delivery(id, delivery, now_ms))
    }
}

impl ZitadelStore for AnyStore {
    async fn zitadel_quota(&self, tenant_id: Uuid, unit: Unit) -> Result<Option<QuotaRecord>> {
        dispatch!(self, s => s.zitadel_quota(tenant_id, unit))
    }
}

impl ConfluentStore for AnyStore {
    async fn client_quota(&self, tenant_id: Uuid, id: &str) -> Result<Option<ClientQuota>> {
        dispatch!(self, s => s.client_quota(tenant_id, id))
    }
    async fn client_quotas(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<ClientQuota>> {
        dispatch!(self, s => s.client_quotas(tenant_id, environment, cluster, after, limit))
    }
    async fn count_client_quotas(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
    ) -> Result<i64> {
        dispatch!(self, s => s.count_client_quotas(tenant_id, environment, cluster))
    }
    async fn client_quota_of_principal(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        principal: &str,
    ) -> Result<Option<ClientQuota>> {
        dispatch!(self, s => s.client_quota_of_principal(tenant_id, environment, cluster, principal))
    }
    async fn confluent_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<u8>> {
        dispatch!(self, s => s.confluent_secret(name, candidate, now))
    }
}

impl DataRobotStore for AnyStore {
    async fn datarobot_quota(&self, tenant_id: Uuid, id: &str) -> Result<Option<Quota>> {
        dispatch!(self, s => s.datarobot_quota(tenant_id, id))
    }
    async fn datarobot_quota_for(
        &self,
        tenant_id: Uuid,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Option<Quota>> {
        dispatch!(self, s => s.datarobot_quota_for(tenant_id, resource_type, resource_id))
    }
    async fn datarobot_quotas(
        &self,
        tenant_id: Uuid,
        filter: &QuotaFilter,
        page: Page,
    ) -> Result<(Vec<Quota>, i64)> {
        dispatch!(self, s => s.datarobot_quotas(tenant_id, filter, page))
    }
    async fn put_datarobot_template(
        &self,
        template: &Template,
        audit: &AuditRecord,
    ) -> Result<bool> {
        dispatch!(self, s => s.put_datarobot_template(template, audit))
    }
    async fn datarobot_template(&self, tenant_id: Uuid, id: &str) -> Result<Option<Template>> {
        dispatch!(self, s => s.datarobot_template(tenant_id, id))
    }
    async fn datarobot_templates(
        &self,
        tenant_ids: [Uuid; 2],
        page: Page,
    ) -> Result<(Vec<Template>, i64)> {
        dispatch!(self, s => s.datarobot_templates(tenant_ids, page))
    }
    async fn delete_datarobot_template(
        &self,
        tenant_id: Uuid,
        id: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        dispatch!(self, s => s.delete_datarobot_template(tenant_id, id, audit))
    }
}

/// Turns a driver error into the domain's: lost connections are `Unavailable`, unique violations
/// `AlreadyExists`, the rest `Internal` (logged by the HTTP layer, never shown).
pub(crate) fn db_error(err: sqlx::Error) -> Error {
    match &err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable("the store is unavailable".into())
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::AlreadyExists {
            what: "resource",
            existing: None,
        },
        _ => Error::Internal(err.to_string()),
    }
}

impl crate::domain::aggregate::AggregateStore for AnyStore {
    async fn write_aggregate(
        &self,
        write: &crate::domain::aggregate::AggregateWrite<'_>,
    ) -> Result<crate::domain::aggregate::Written> {
        dispatch!(self, s => s.write_aggregate(write))
    }
}
