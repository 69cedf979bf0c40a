//! What one group-commit batch reads and writes: the contract between the engine, which decides,
//! and the store, which locks, reads and writes inside one transaction.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::domain::limit::Amount;
use crate::domain::notification::DueNotification;

/// A period end that never comes (windows of kind `none`), in epoch milliseconds.
pub const NEVER: i64 = i64::MAX;

/// One limit's counter in one period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    pub tenant_id: Uuid,
    pub limit_id: String,
    /// Which of the limit's counters ([`crate::domain::limit::Limit::partition`]); empty for a
    /// limit without `per`.
    pub per_value: String,
    /// Start of the period, epoch milliseconds.
    pub period_start: i64,
}

/// A counter as locked and read in the batch's transaction, with its limit's current terms
/// (read from the store, not the cache, so an amount changed on another replica counts at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRow {
    pub used: i64,
    pub amount: Amount,
    pub blocking: bool,
}

/// An idempotency key, scoped by tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub tenant_id: Uuid,
    pub key: String,
}

/// The first decision taken under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// SHA-256 of the request, to tell a replay from a different request under the same key.
    pub request_hash: String,
    /// The decision, as JSON.
    pub decision: String,
}

/// What the store must lock and read before the engine decides.
#[derive(Debug, Default)]
pub struct BatchReads {
    /// Counters to lock and read, sorted and without duplicates, each with its period's end.
    pub counters: Vec<(CounterKey, i64)>,
    /// Whether each of `counters` may be written by the batch; one only checked is read (as 0
    /// when it does not exist) and never created.
    pub writable: Vec<bool>,
    pub idempotency: Vec<IdempotencyKey>,
    /// Leases to release (tenant, lease id) before counters are read.
    pub releases: Vec<(Uuid, Uuid)>,
    /// Whether to free expired leases first (when the batch acquires leases).
    pub expire_leases: bool,
    /// Counters whose limit has notification rules: read what each rule already fired at in
    /// the counter's period.
    pub notified: Vec<CounterKey>,
    /// Counters whose limit has alert rules and a window that resets, each with the start of
    /// the period before theirs: read that period's usage (for reset events).
    pub previous: Vec<(CounterKey, i64)>,
    /// The batch's instant, epoch milliseconds.
    pub now_ms: i64,
}

/// What the store found.
#[derive(Debug, Default)]
pub struct BatchState {
    /// Counters whose limit still exists (a missing one was deleted meanwhile).
    pub counters: HashMap<CounterKey, CounterRow>,
    pub idempotency: HashMap<IdempotencyKey, IdempotencyRecord>,
    /// Releases that found their lease.
    pub released: HashSet<(Uuid, Uuid)>,
    /// The highest threshold each notification rule (by id) already fired at in a counter's
    /// period.
    pub fired: HashMap<(CounterKey, String), i64>,
    /// For each of [`BatchReads::previous`]: the previous period's start and its usage (0 when
    /// it has no counter).
    pub previous: HashMap<CounterKey, (i64, i64)>,
}

/// A unit of a lease: what it holds of one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub tenant_id: Uuid,
    pub lease_id: Uuid,
    pub counter: CounterKey,
    pub amount: i64,
    pub expires_at_ms: i64,
}

/// What the store must write before it commits.
#[derive(Debug, Default)]
pub struct BatchWrites {
    /// Counters with their new usage, each with its period's end.
    pub counters: Vec<(CounterKey, i64, i64)>,
    pub leases: Vec<LeaseRow>,
    /// Every lease granted (tenant, lease id, expiry in epoch milliseconds), whether or not a
    /// limit applied to it, so it can be released like any other.
    pub granted: Vec<(Uuid, Uuid, i64)>,
    /// New idempotency records, each with its expiry (epoch milliseconds).
    pub idempotency: Vec<(IdempotencyKey, IdempotencyRecord, i64)>,
    /// Notifications that became due, for the outbox (a row already there is left alone).
    pub outbox: Vec<DueNotification>,
}
