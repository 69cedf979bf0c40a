//! What one group-commit batch reads and writes: the contract between the engine, which decides,
//! and the store, which locks, reads and writes inside one transaction.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::domain::limit::Amount;
use crate::domain::notification::DueNotification;

/// A period end that never comes (windows of kind `none`), in epoch milliseconds.
pub const NEVER: i64 = i64::MAX;

/// The hasher of maps keyed by counters inside one batch: hashing keys is much of what a job
/// touching thousands of counters costs, and SipHash's strength against chosen collisions is
/// not needed where a map holds only what one batch's budget lets in (foldhash is still seeded
/// per process).
pub type FastHash = foldhash::fast::RandomState;

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
    /// Most `per` partitions one limit may hold in one period (`partitions_per_limit`); `None`:
    /// no bound. See [`past_bound`].
    pub partitions_per_limit: Option<i64>,
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
    /// Writable counters of new `per` partitions the batch may not make: their limit holds as
    /// many partitions in their period as it may. They read 0 and are never written; a job that
    /// would count, hold or set on one is refused ([`past_bound`]).
    pub full_partitions: HashSet<CounterKey>,
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

/// A limit in one period: the counters of its `per` partitions are counted against
/// `partitions_per_limit` together.
pub type PartitionGroup = (Uuid, String, i64);

/// The group a counter belongs to.
pub fn partition_group(key: &CounterKey) -> PartitionGroup {
    (key.tenant_id, key.limit_id.clone(), key.period_start)
}

/// The writable counters of `per` partitions (a non-empty `per_value`) that a batch reading
/// `reads` may make; the store asks which of them no row holds yet.
pub fn partition_candidates(reads: &BatchReads) -> Vec<&CounterKey> {
    if reads.partitions_per_limit.is_none() {
        return Vec::new();
    }
    reads
        .counters
        .iter()
        .zip(&reads.writable)
        .filter(|((key, _), writable)| **writable && !key.per_value.is_empty())
        .map(|((key, _), _)| key)
        .collect()
}

/// Of `new` (counters of `per` partitions no row holds yet, in key order), those the batch may
/// not make: each group (a limit in a period) holding `live` partitions may make `bound - live`
/// more, the first in key order. So the bound holds whatever the batch then decides; a new
/// partition admitted here but whose usage is refused only leaves room unused until the next
/// batch.
pub fn past_bound(
    new: &[&CounterKey],
    live: &HashMap<PartitionGroup, i64>,
    bound: i64,
) -> HashSet<CounterKey> {
    let mut room: HashMap<PartitionGroup, i64> = HashMap::new();
    let mut full = HashSet::new();
    for key in new {
        let group = partition_group(key);
        let left = room
            .entry(group)
            .or_insert_with_key(|g| bound - live.get(g).copied().unwrap_or(0));
        if *left > 0 {
            *left -= 1;
        } else {
            full.insert((*key).clone());
        }
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(limit: &str, per: &str, start: i64) -> CounterKey {
        CounterKey {
            tenant_id: Uuid::nil(),
            limit_id: limit.into(),
            per_value: per.into(),
            period_start: start,
        }
    }

    #[test]
    fn new_partitions_past_a_limits_room_in_a_period_are_full_in_key_order() {
        let new = [
            key("a", "u1", 0),
            key("a", "u2", 0),
            key("a", "u3", 0),
            key("a", "u4", 60),
            key("b", "u5", 0),
        ];
        let new: Vec<&CounterKey> = new.iter().collect();
        let live = HashMap::from([(partition_group(new[0]), 2), (partition_group(new[4]), 3)]);
        let full = past_bound(&new, &live, 3);
        let expected: HashSet<CounterKey> =
            [key("a", "u2", 0), key("a", "u3", 0), key("b", "u5", 0)]
                .into_iter()
                .collect();
        assert_eq!(
            full, expected,
            "a's next period and its first new partition fit"
        );
    }
}
