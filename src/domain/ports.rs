//! The ports the domain declares for what it keeps: one store trait per aggregate (here, plus
//! `AggregateStore`, `PageStore`, `AuditStore`, `AlertStore`, `HistoryStore`, `RetentionStore`,
//! `InstanceStore` and `UsageResetStore` beside the concepts they serve), which `crate::store`
//! implements for PostgreSQL and SQLite. The domain depends on these traits, never on the store:
//! nothing under `crate::domain` names `crate::store` (but unit tests that open a real one). The
//! usage engine and the services that keep state are generic over their store ([`EngineStore`]);
//! the application picks the implementation. The traits return `impl Future`, so they are used
//! as generic bounds, not as trait objects. Every method but those on tenants themselves is
//! scoped by tenant.

use std::collections::HashMap;
use std::future::Future;

use uuid::Uuid;

use crate::domain::Result;
use crate::domain::audit::AuditRecord;
use crate::domain::confluent::ClientQuota;
use crate::domain::datarobot::{Page, Quota, QuotaFilter, Template};
use crate::domain::limit::Limit;
use crate::domain::notification::{Delivery, DueNotification, Notification};
use crate::domain::principal::{ApiKey, SecretHash};
use crate::domain::service_quota::{AuditRecord as Adjustment, QuotaCode};
use crate::domain::tenant::Tenant;
use crate::domain::usage::batch::{BatchReads, BatchState, BatchWrites, CounterKey, CounterRow};
use crate::domain::waldur::OwnLimits;
use crate::domain::zitadel::{QuotaRecord, Unit};

/// Tenants and their keys.
pub trait TenantStore: Send + Sync {
    /// Whether the store answers.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// Adds a tenant, with the audit record of its creation.
    fn insert_tenant(
        &self,
        tenant: &Tenant,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A tenant by id.
    fn tenant(&self, id: Uuid) -> impl Future<Output = Result<Option<Tenant>>> + Send;
    /// Every tenant, oldest first.
    fn tenants(&self) -> impl Future<Output = Result<Vec<Tenant>>> + Send;
    /// The tenant with this name, oldest first if several.
    fn tenant_named(&self, name: &str) -> impl Future<Output = Result<Option<Tenant>>> + Send;
    /// Adds a key, with the audit record of its creation.
    fn insert_key(
        &self,
        key: &ApiKey,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The key whose secret hashes to `hash`.
    fn key_by_hash(&self, hash: &SecretHash)
    -> impl Future<Output = Result<Option<ApiKey>>> + Send;
    /// A tenant's keys, oldest first.
    fn keys(&self, tenant_id: Uuid) -> impl Future<Output = Result<Vec<ApiKey>>> + Send;
    /// How many keys exist in the whole installation.
    fn count_keys(&self) -> impl Future<Output = Result<i64>> + Send;
}

/// Limits, their counters and the usage engine's batches.
pub trait LimitStore: Send + Sync {
    /// How many limits a tenant holds.
    fn count_limits(&self, tenant_id: Uuid) -> impl Future<Output = Result<i64>> + Send;
    /// Creates a limit unless one with its id exists, with the audit record of its creation
    /// (kept only when it was created), in one transaction; true when it was created.
    fn insert_limit(
        &self,
        limit: &Limit,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Creates or replaces a limit, with the audit record of the change, in one transaction;
    /// true when it was created.
    fn put_limit(
        &self,
        limit: &Limit,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A tenant's limit by id.
    fn limit(
        &self,
        tenant_id: Uuid,
        id: &str,
    ) -> impl Future<Output = Result<Option<Limit>>> + Send;
    /// A tenant's limits, by id.
    fn limits(&self, tenant_id: Uuid) -> impl Future<Output = Result<Vec<Limit>>> + Send;
    /// What changes whenever a limit of the metric is created, replaced or deleted: how many
    /// there are and the latest `updated_at` (as text). Cheap, so caches can ask it often.
    fn limits_fingerprint(
        &self,
        tenant_id: Uuid,
        metric: &str,
    ) -> impl Future<Output = Result<(i64, Option<String>)>> + Send;
    /// How many limits the metric has, counting no further than `most`: as cheap for a metric of
    /// a million limits as for one of `most`.
    fn count_limits_upto(
        &self,
        tenant_id: Uuid,
        metric: &str,
        most: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// A tenant's limits of one metric, by id, each handed to `each` as it is read: a metric of
    /// 100,000 limits need never be held whole in its full form.
    fn each_limit_of_metric<F: FnMut(Limit) + Send>(
        &self,
        tenant_id: Uuid,
        metric: &str,
        each: F,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A tenant's limits of one metric, by id.
    fn limits_of_metric(
        &self,
        tenant_id: Uuid,
        metric: &str,
    ) -> impl Future<Output = Result<Vec<Limit>>> + Send {
        async move {
            let mut limits = Vec::new();
            self.each_limit_of_metric(tenant_id, metric, |limit| limits.push(limit))
                .await?;
            Ok(limits)
        }
    }
    /// A tenant's limits of one metric that may select `subject`: every one that does, and
    /// perhaps some that do not (the caller checks each with `Subject::selects`). Reads only
    /// those rows, so a request need not wait for a large metric's whole load.
    fn limits_selecting(
        &self,
        tenant_id: Uuid,
        metric: &str,
        subject: &crate::domain::limit::Subject,
    ) -> impl Future<Output = Result<Vec<Limit>>> + Send;
    /// Deletes a limit with its counters and leases, with the audit record of the deletion (kept
    /// only when there was a limit to delete); false when there was none.
    fn delete_limit(
        &self,
        tenant_id: Uuid,
        id: &str,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// How many leases of the tenant are open (granted, not released, expiring after `now_ms`).
    fn count_open_leases(
        &self,
        tenant_id: Uuid,
        now_ms: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// The usage of the counters that exist among `keys`.
    fn counter_values(
        &self,
        keys: &[CounterKey],
    ) -> impl Future<Output = Result<HashMap<CounterKey, i64>>> + Send;
    /// The counters of `keys` as last committed, with their limits' current terms, in one
    /// consistent read that locks nothing (a check's read): a counter never written reads 0, one
    /// whose limit is gone is absent.
    fn counter_rows(
        &self,
        keys: &[CounterKey],
    ) -> impl Future<Output = Result<HashMap<CounterKey, CounterRow>>> + Send;
    /// How many of the engine's batches may run at once on disjoint counters: 1 where one
    /// writer holds the whole database, more where row locks keep batches apart (then one of
    /// them is kept for jobs that touch many counters).
    fn batch_lanes(&self) -> usize;
    /// One group-commit batch of the usage engine, in one transaction: frees expired and released
    /// leases, locks and reads the counters and idempotency records of `reads`, lets `decide`
    /// choose, writes what it chose, and commits.
    fn run_batch(
        &self,
        reads: &BatchReads,
        decide: &mut (dyn FnMut(&BatchState) -> BatchWrites + Send),
    ) -> impl Future<Output = Result<()>> + Send;
    /// Housekeeping: frees expired leases; when `thorough`, also forgets expired idempotency
    /// records (counters and the outbox: `domain::retention::RetentionStore`).
    fn sweep(&self, now_ms: i64, thorough: bool) -> impl Future<Output = Result<()>> + Send;
}

/// Waldur users' chat token quotas.
pub trait ChatQuotaStore: Send + Sync {
    /// Whether a key of the tenant acts as `user_id`.
    fn user_has_key(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A Waldur user's own chat token limits, if they have a stored quota.
    fn chat_quota(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> impl Future<Output = Result<Option<OwnLimits>>> + Send;
    /// Every stored chat token quota of a tenant, by user.
    fn chat_quotas(
        &self,
        tenant_id: Uuid,
    ) -> impl Future<Output = Result<Vec<(Uuid, OwnLimits)>>> + Send;
}

/// Notification rules and the outbox of due notifications.
pub trait NotificationStore: Send + Sync {
    /// A tenant's notification rules with their limit's id, by limit, in the order given.
    fn notification_rules(
        &self,
        tenant_id: Uuid,
    ) -> impl Future<Output = Result<Vec<(String, Notification)>>> + Send;
    /// Claims up to `max` undelivered notifications due at `now_ms`, oldest first: each is
    /// hidden from other workers until `claim_until_ms`.
    fn claim_due_notifications(
        &self,
        now_ms: i64,
        claim_until_ms: i64,
        max: i64,
    ) -> impl Future<Output = Result<Vec<DueNotification>>> + Send;
    /// Records how a delivery attempt ended.
    fn record_delivery(
        &self,
        id: Uuid,
        delivery: &Delivery,
        now_ms: i64,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// ZITADEL instance quotas.
pub trait ZitadelStore: Send + Sync {
    /// A ZITADEL instance quota.
    fn zitadel_quota(
        &self,
        tenant_id: Uuid,
        unit: Unit,
    ) -> impl Future<Output = Result<Option<QuotaRecord>>> + Send;
}

/// Confluent client quotas and the surface's secrets.
pub trait ConfluentStore: Send + Sync {
    /// A tenant's client quota by id.
    fn client_quota(
        &self,
        tenant_id: Uuid,
        id: &str,
    ) -> impl Future<Output = Result<Option<ClientQuota>>> + Send;
    /// Up to `limit` client quotas on a cluster, in `(created_at, id)` order, after `after`.
    fn client_quotas(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ClientQuota>>> + Send;
    /// How many client quotas a cluster has.
    fn count_client_quotas(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// The client quota naming `principal` on a cluster.
    fn client_quota_of_principal(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        principal: &str,
    ) -> impl Future<Output = Result<Option<ClientQuota>>> + Send;
    /// The Confluent surface's secret `name`, made from `candidate` at `now` if it does not
    /// exist yet (every replica then reads the same one).
    fn confluent_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<u8>>> + Send;
}

/// DataRobot quotas and quota templates.
pub trait DataRobotStore: Send + Sync {
    /// A tenant's DataRobot quota by id.
    fn datarobot_quota(
        &self,
        tenant_id: Uuid,
        id: &str,
    ) -> impl Future<Output = Result<Option<Quota>>> + Send;
    /// The DataRobot quota governing a resource.
    fn datarobot_quota_for(
        &self,
        tenant_id: Uuid,
        resource_type: &str,
        resource_id: &str,
    ) -> impl Future<Output = Result<Option<Quota>>> + Send;
    /// A page of a tenant's DataRobot quotas, oldest first, and how many match in all.
    fn datarobot_quotas(
        &self,
        tenant_id: Uuid,
        filter: &QuotaFilter,
        page: Page,
    ) -> impl Future<Output = Result<(Vec<Quota>, i64)>> + Send;
    /// Creates or replaces a quota template, with the audit record of the change; true when it
    /// was created.
    fn put_datarobot_template(
        &self,
        template: &Template,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A tenant's quota template by id.
    fn datarobot_template(
        &self,
        tenant_id: Uuid,
        id: &str,
    ) -> impl Future<Output = Result<Option<Template>>> + Send;
    /// A page of the templates of either tenant, oldest first, and how many there are in all.
    fn datarobot_templates(
        &self,
        tenant_ids: [Uuid; 2],
        page: Page,
    ) -> impl Future<Output = Result<(Vec<Template>, i64)>> + Send;
    /// Deletes a quota template, with the audit record of the deletion; false when there was
    /// none (and nothing is recorded).
    fn delete_datarobot_template(
        &self,
        tenant_id: Uuid,
        id: &str,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Operator-defined service-quota codes and the audit of applied-quota adjustments.
pub trait ServiceQuotaStore: Send + Sync {
    /// Creates or replaces an operator-defined service-quota code; true when it was created.
    fn put_service_quota_code(
        &self,
        code: &QuotaCode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Every operator-defined service-quota code, ordered by code.
    fn service_quota_codes(&self) -> impl Future<Output = Result<Vec<QuotaCode>>> + Send;
    /// The recorded changes of a tenant's applied limits of `code`, oldest first.
    fn service_quota_adjustments(
        &self,
        tenant_id: Uuid,
        code: &str,
    ) -> impl Future<Output = Result<Vec<Adjustment>>> + Send;
    /// Up to `n` partitions (`per_value`s) of the `window: none` limit `limit_id` that come
    /// after `after`, in order: the scope references that counted on a code's default.
    fn applied_partitions(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        after: &str,
        n: u32,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// Everything the domain keeps: every port at once, for the services that span several.
pub trait Store:
    TenantStore
    + LimitStore
    + ChatQuotaStore
    + NotificationStore
    + ZitadelStore
    + ConfluentStore
    + DataRobotStore
    + ServiceQuotaStore
{
}

impl<T> Store for T where
    T: TenantStore
        + LimitStore
        + ChatQuotaStore
        + NotificationStore
        + ZitadelStore
        + ConfluentStore
        + DataRobotStore
        + ServiceQuotaStore
{
}

/// What the usage engine and the services around it are generic over: every port above and
/// pages of limits, cloneable into the engine's batchers. The app chooses the implementation.
pub trait EngineStore: Store + crate::domain::page::PageStore + Clone + 'static {}

impl<T> EngineStore for T where T: Store + crate::domain::page::PageStore + Clone + 'static {}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
