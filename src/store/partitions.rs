//! The bound on `per` partitions (`partitions_per_limit`) inside a usage batch: which new
//! partitions the batch may make, decided first in its transaction.
//!
//! Exact under concurrency on both backends. On SQLite a batch holds the one write lock from
//! its first statement, so counting and then writing cannot race. On PostgreSQL several
//! batchers (and replicas) run at once, so a batch that would make a new partition first takes
//! a transaction-level advisory lock per limit and period it would grow (in a fixed order, and
//! before any row lock of the batch, so no cycle with row locks can form), then counts the
//! partitions committed so far: two batches each making the last allowed partition of a limit
//! take turns, and the second counts the first's. A batch that makes no new partition (the hot
//! path, every partition it touches known) takes no such lock and pays one indexed look-up.
//!
//! The count is one row per limit and period in `partition_counts`, kept by triggers on
//! `counters` in the transaction that makes or deletes a partition (on PostgreSQL at its commit,
//! before the advisory lock goes), so reading it costs the same however many partitions exist.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{Postgres, Sqlite, Transaction};

use super::db_error;
use super::postgres::{self, PgStore, key_columns, keyed};
use super::sqlite::{self, SqliteStore};
use crate::domain::Result;
use crate::domain::usage::batch::{
    BatchReads, CounterKey, PartitionGroup, partition_candidates, partition_group, past_bound,
};

/// Defines `claim_partitions` for a backend that has `existing_counters` and `lock_and_count`.
macro_rules! claim_partitions {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The new `per` partitions this batch may not make ([`past_bound`]). Runs first in
            /// the batch's transaction, before any row lock.
            pub(super) async fn claim_partitions(
                tx: &mut Transaction<'static, $db>,
                reads: &BatchReads,
            ) -> Result<HashSet<CounterKey>> {
                let (candidates, Some(bound)) =
                    (partition_candidates(reads), reads.partitions_per_limit)
                else {
                    return Ok(HashSet::new());
                };
                if candidates.is_empty() {
                    return Ok(HashSet::new());
                }
                let existing = Self::existing_counters(tx, &candidates).await?;
                let mut new: Vec<&CounterKey> = candidates
                    .into_iter()
                    .filter(|k| !existing.contains(*k))
                    .collect();
                if new.is_empty() {
                    return Ok(HashSet::new());
                }
                let groups: BTreeSet<PartitionGroup> =
                    new.iter().map(|k| partition_group(k)).collect();
                let (made, live) = Self::lock_and_count(tx, &new, &groups).await?;
                new.retain(|k| !made.contains(*k));
                Ok(past_bound(&new, &live, bound))
            }
        }
    };
}

claim_partitions!(SqliteStore, Sqlite);
claim_partitions!(PgStore, Postgres);

impl SqliteStore {
    /// Which of `keys` a counter row holds, in one statement.
    async fn existing_counters(
        tx: &mut Transaction<'static, Sqlite>,
        keys: &[&CounterKey],
    ) -> Result<HashSet<CounterKey>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(sqlite::EXISTING_COUNTERS)
            .bind(sqlite::keys_json(keys.iter().map(|k| (*k, None))))
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(i, _)| Ok((*sqlite::key_at(keys, i)?).clone()))
            .collect()
    }

    /// Nothing to lock, and nothing of `new` made since the batch looked: the batch holds
    /// SQLite's write lock already. The live partitions of each group, one indexed read each
    /// (the count is kept by triggers on `counters`, migration 0019; no row: none yet).
    async fn lock_and_count(
        tx: &mut Transaction<'static, Sqlite>,
        _new: &[&CounterKey],
        groups: &BTreeSet<PartitionGroup>,
    ) -> Result<(HashSet<CounterKey>, HashMap<PartitionGroup, i64>)> {
        let mut live = HashMap::with_capacity(groups.len());
        for group in groups {
            let count: Option<i64> = sqlx::query_scalar(
                "SELECT partitions FROM partition_counts WHERE tenant_id = $1 \
                 AND limit_id = $2 AND period_start = $3",
            )
            .bind(group.0)
            .bind(&group.1)
            .bind(group.2)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
            live.insert(group.clone(), count.unwrap_or(0));
        }
        Ok((HashSet::new(), live))
    }
}

impl PgStore {
    /// Which of `keys` a counter row holds, in one round trip.
    async fn existing_counters(
        tx: &mut Transaction<'static, Postgres>,
        keys: &[&CounterKey],
    ) -> Result<HashSet<CounterKey>> {
        let keys = key_columns(keys.iter().copied());
        keyed(postgres::EXISTING_COUNTERS, &keys)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?
            .iter()
            .map(postgres::counter_key)
            .collect()
    }

    /// Takes a transaction-level advisory lock per group, in the order of their lock ids (so
    /// two batches never wait on each other crosswise), held until the batch commits. Then, in
    /// one round trip, which of `new` another batch made while this one waited, and the live
    /// partitions of each group (kept by triggers on `counters` at each commit, migration 0019;
    /// no row: none yet).
    async fn lock_and_count(
        tx: &mut Transaction<'static, Postgres>,
        new: &[&CounterKey],
        groups: &BTreeSet<PartitionGroup>,
    ) -> Result<(HashSet<CounterKey>, HashMap<PartitionGroup, i64>)> {
        let ids: BTreeSet<i64> = groups.iter().map(advisory_id).collect();
        for id in ids {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        let (tenants, limits, starts, pers) = key_columns(new.iter().copied());
        let group_tenants: Vec<_> = groups.iter().map(|g| g.0).collect();
        let group_limits: Vec<&str> = groups.iter().map(|g| g.1.as_str()).collect();
        let group_starts: Vec<i64> = groups.iter().map(|g| g.2).collect();
        // A counter of `new` that exists reads without a count; a group's count with one.
        let rows: Vec<(uuid::Uuid, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT c.tenant_id, c.limit_id, c.per_value, c.period_start, NULL::int8 FROM counters c \
             WHERE (c.tenant_id, c.limit_id, c.per_value, c.period_start) IN \
                   (SELECT * FROM UNNEST($1::uuid[], $2::text[], $4::text[], $3::int8[])) \
             UNION ALL \
             SELECT p.tenant_id, p.limit_id, '', p.period_start, p.partitions \
             FROM partition_counts p WHERE (p.tenant_id, p.limit_id, p.period_start) IN \
                   (SELECT * FROM UNNEST($5::uuid[], $6::text[], $7::int8[]))",
        )
        .bind(&tenants)
        .bind(&limits)
        .bind(&starts)
        .bind(&pers)
        .bind(&group_tenants)
        .bind(&group_limits)
        .bind(&group_starts)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        let mut made = HashSet::new();
        let mut live: HashMap<PartitionGroup, i64> =
            groups.iter().map(|g| (g.clone(), 0)).collect();
        for (tenant_id, limit_id, per_value, period_start, partitions) in rows {
            match partitions {
                Some(count) => {
                    live.insert((tenant_id, limit_id, period_start), count);
                }
                None => {
                    made.insert(CounterKey {
                        tenant_id,
                        limit_id,
                        per_value,
                        period_start,
                    });
                }
            }
        }
        Ok((made, live))
    }
}

/// A group's advisory lock id: FNV-1a over its parts, the same on every replica and version
/// (two groups sharing an id only take turns more than they must).
fn advisory_id(group: &PartitionGroup) -> i64 {
    const PREFIX: &[u8] = b"quotaplane.partitions";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts: [&[u8]; 4] = [
        PREFIX,
        group.0.as_bytes(),
        group.1.as_bytes(),
        &group.2.to_be_bytes(),
    ];
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advisory_id_is_stable_and_tells_limits_and_periods_apart() {
        let tenant = uuid::Uuid::from_u128(7);
        let a = advisory_id(&(tenant, "calls".into(), 0));
        assert_eq!(a, advisory_id(&(tenant, "calls".into(), 0)));
        assert_ne!(a, advisory_id(&(tenant, "calls".into(), 1)));
        assert_ne!(a, advisory_id(&(tenant, "calls2".into(), 0)));
        assert_ne!(
            a,
            advisory_id(&(uuid::Uuid::from_u128(8), "calls".into(), 0))
        );
    }
}
