//! Quotas as aggregates: a vendor quota (or an API key, or a Waldur user's chat quota) together with the engine limits it owns
//! and the unit of an applied quota it takes, written, replaced and deleted in one store
//! transaction. A crash at any point leaves either all of it or none of it, so a client's retry
//! after a failure finds nothing half-made.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Result;
use super::audit::AuditRecord;
use super::confluent::{ClientQuota, PrincipalClash};
use super::datarobot::Quota;
use super::limit::Limit;
use super::notification::Notification;
use super::principal::ApiKey;
use super::service_quota::AuditEntry;
use super::usage::batch::CounterKey;
use super::waldur::LimitChanges;
use super::zitadel::{QuotaRecord, Unit as ZitadelUnit};

/// The row an aggregate write is about.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    InsertClientQuota(&'a ClientQuota),
    UpdateClientQuota(&'a ClientQuota),
    DeleteClientQuota {
        tenant_id: Uuid,
        id: &'a str,
    },
    InsertDataRobotQuota(&'a Quota),
    UpdateDataRobotQuota(&'a Quota),
    DeleteDataRobotQuota {
        tenant_id: Uuid,
        id: &'a str,
    },
    /// A ZITADEL instance quota: inserted (refused as `AlreadyExists` when the instance has one
    /// for the unit) or, with `replace`, inserted or updated.
    PutZitadelQuota {
        record: &'a QuotaRecord,
        replace: bool,
    },
    DeleteZitadelQuota {
        tenant_id: Uuid,
        unit: ZitadelUnit,
    },
    /// An applied quota's limit with its new amount (written only over a limit of the same
    /// owner), and the audit record of the change (none when start-up reshapes a limit). For a
    /// scope with references, `default_id` is the code's default limit, whose row is locked
    /// first: a unit taken meanwhile counts on the default's partition before the write's carry
    /// reads it, or on the reference's own limit after the write.
    AdjustAppliedQuota {
        limit: &'a Limit,
        audit: Option<&'a AuditEntry>,
        default_id: Option<&'a str>,
    },
    /// A limit deleted with its counters (after the write's carries read them).
    RetireLimit {
        tenant_id: Uuid,
        id: &'a str,
    },
    /// A Waldur user's chat-token quota: the periods present in `changes` set, the row created
    /// when missing.
    SetChatQuota {
        tenant_id: Uuid,
        user_id: Uuid,
        changes: &'a LimitChanges,
        at: DateTime<Utc>,
    },
    InsertKey(&'a ApiKey),
    DeleteKey {
        tenant_id: Uuid,
        id: &'a str,
    },
}

/// The limits one owner has after the write: those not listed are deleted with their usage.
#[derive(Debug, Clone)]
pub struct OwnedLimits {
    pub tenant_id: Uuid,
    pub owner: String,
    pub limits: Vec<Limit>,
}

/// One unit of an applied quota (a `window: none` counter of a service-quota limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub tenant_id: Uuid,
    /// The scope reference's own limit: the unit counts there when it exists.
    pub own_id: String,
    /// Else the code's default limit, on the reference's partition (`per_value`; empty for an
    /// organization-wide code, whose one limit is its default).
    pub default_id: String,
    pub per_value: String,
    /// When it is taken or given back, epoch milliseconds.
    pub at_ms: i64,
}

/// What happens to the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitChange {
    /// Take it, or refuse the whole write when the applied limit is reached.
    Take(Unit),
    /// Give it back (never below 0).
    GiveBack(Unit),
}

/// A limit's notification rules, replaced as a whole.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub tenant_id: Uuid,
    pub limit_id: &'a str,
    pub rules: &'a [Notification],
    pub at: DateTime<Utc>,
}

/// A subject's count carried from one counter to another in the write's transaction: when a
/// subject moves between a default limit split `per` subject and a limit of its own (of one
/// family, so one window), its usage of the current period goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carry {
    /// The counter read (as it stands before the write: a limit the write deletes still has it).
    pub from: CounterKey,
    /// The counter set to what `from` held (0 when `from` has no row), after the limits are
    /// written; nothing is written when neither has a row.
    pub to: CounterKey,
    /// End of the period both keys are in, epoch milliseconds.
    pub period_end: i64,
    /// When it is carried, epoch milliseconds.
    pub at_ms: i64,
}

/// One aggregate write: all of it commits, or none of it.
#[derive(Debug, Clone)]
pub struct AggregateWrite<'a> {
    pub row: Row<'a>,
    pub limits: Option<OwnedLimits>,
    /// Counts moved between counters (see [`Carry`]).
    pub carries: Vec<Carry>,
    /// Replaces a limit's notification rules (after the limits are written).
    pub rules: Option<Rules<'a>>,
    pub unit: Option<UnitChange>,
    /// The audit record of the change, appended when (and only when) the write is done.
    pub audit: Option<&'a AuditRecord>,
}

impl<'a> AggregateWrite<'a> {
    /// A write of `row` alone: no limits, carries, rules, unit or audit record (set those
    /// beside it with `..AggregateWrite::of(row)`).
    pub fn of(row: Row<'a>) -> Self {
        Self {
            row,
            limits: None,
            carries: Vec::new(),
            rules: None,
            unit: None,
            audit: None,
        }
    }
}

/// How an aggregate write ended (a failure of the store is an `Err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The row to update or delete is not there: nothing was written.
    Missing,
    /// A principal of the client quota has another client quota on its cluster.
    Clash(PrincipalClash),
    /// The applied limit has no room for the unit: nothing was written.
    NoRoom,
    /// A limit id the write needs belongs to another owner: nothing was written.
    Taken(String),
}

/// The store port for aggregate writes.
pub trait AggregateStore: Send + Sync {
    /// Writes `write` in one transaction.
    fn write_aggregate(
        &self,
        write: &AggregateWrite<'_>,
    ) -> impl Future<Output = Result<Written>> + Send;
}
