//! The PostgreSQL backend: production, shared by several replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, Transaction};
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

/// A pool of PostgreSQL connections.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Set when a recent batch found (or made) a counter it may write missing: the next batch
    /// makes sure its counters exist before it locks them, as new periods and partitions need.
    /// Clear, a batch locks first and skips that insert while every counter it writes exists.
    pub(crate) making_counters: Arc<AtomicBool>,
}

/// Locks and reads a batch's counters (`$1` tenants, `$2` limit ids, `$3` period starts, `$4`
/// partitions), in key order, each with its limit's terms. Each counter is found by its whole key
/// and each limit by its own, whatever the planner's statistics say: the locking subquery (which
/// is never flattened) and the `OFFSET 0` keep it from joining limits first and walking all of a
/// limit's partitions (a plan it took for a `per` limit whose partitions grew after the last
/// ANALYZE: 155 ms for 63 counters instead of 0.5).
pub(super) const LOCK_COUNTERS: &str = "\
    SELECT c.tenant_id, c.limit_id, c.per_value, c.period_start, c.used, l.amount, l.blocking \
    FROM (SELECT c.tenant_id, c.limit_id, c.per_value, c.period_start, c.used \
          FROM counters c \
          WHERE (c.tenant_id, c.limit_id, c.per_value, c.period_start) IN \
                (SELECT * FROM UNNEST($1::uuid[], $2::text[], $4::text[], $3::int8[])) \
          ORDER BY c.tenant_id, c.limit_id, c.per_value, c.period_start \
          FOR UPDATE OF c) c \
    CROSS JOIN LATERAL (SELECT l.amount, l.blocking FROM limits l \
          WHERE l.tenant_id = c.tenant_id AND l.id = c.limit_id OFFSET 0) l";

impl PgStore {
    /// Batches at once: each holds one of the pool's connections for its transaction, and row
    /// locks taken in key order keep them (and other replicas) exact and free of deadlocks.
    /// Fewer, larger batches do more on a machine of few cores shared with PostgreSQL, so one
    /// lane is shared and one kept for big jobs (`bench/README.md` has the lanes measured).
    const BATCH_LANES: usize = 2;

    /// Connects; fails when the server cannot be reached within a few seconds.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            // A broken connection fails its query and is replaced; a ping per acquire would
            // cost every batch one more round trip.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self::over(pool))
    }

    /// A store over `pool`.
    pub(crate) fn over(pool: PgPool) -> Self {
        Self {
            pool,
            making_counters: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Applies `migrations/postgres`.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// A batch's transaction. Row locks (`FOR UPDATE`) on the counters keep replicas exact.
    async fn begin_batch(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
        pool.begin().await.map_err(db_error)
    }

    /// Locks and reads the batch's counters in key order (so two replicas never wait on each
    /// other crosswise), having first made the missing ones the batch may write (but those of
    /// `full` partitions) when a recent batch had to, or when `again`.
    ///
    /// `None` when this batch locked first and found a counter it may write missing. A row
    /// cannot be made behind locks already held: its insert may wait on a batch that inserted
    /// it and now waits on one of those locks. The batch must begin again, making them first.
    async fn lock_counters(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        reads: &BatchReads,
        full: &HashSet<CounterKey>,
        again: bool,
    ) -> Result<Option<(HashMap<CounterKey, CounterRow>, ())>> {
        if reads.counters.is_empty() {
            return Ok(Some((HashMap::new(), ())));
        }
        let written: Vec<&(CounterKey, i64)> = reads
            .counters
            .iter()
            .zip(&reads.writable)
            .filter_map(|(key, writable)| writable.then_some(key))
            .filter(|(key, _)| !full.contains(key))
            .collect();
        let make_first = again || self.making_counters.load(Ordering::Relaxed);
        if make_first && !written.is_empty() {
            let made = Self::make_counters(tx, &written, reads.now_ms).await?;
            self.making_counters.store(made > 0, Ordering::Relaxed);
        }
        let keys = key_columns(reads.counters.iter().map(|(k, _)| k));
        let rows = keyed(LOCK_COUNTERS, &keys)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
        let mut found = rows
            .iter()
            .map(|r| {
                let row = CounterRow {
                    used: r.try_get("used").map_err(db_error)?,
                    amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                    blocking: r.try_get("blocking").map_err(db_error)?,
                };
                Ok((counter_key(r)?, row))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        if !make_first && written.iter().any(|(key, _)| !found.contains_key(key)) {
            self.making_counters.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let unwritten: Vec<&CounterKey> = reads
            .counters
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !found.contains_key(*k))
            .collect();
        if !unwritten.is_empty() {
            Self::read_unwritten(tx, &unwritten, &mut found).await?;
        }
        // PostgreSQL's write finds each counter by its key (see `write_counters`): nothing to keep.
        Ok(Some((found, ())))
    }

    /// Makes the counters of `written` that do not exist yet, holding 0; how many it made.
    async fn make_counters(
        tx: &mut Transaction<'static, Postgres>,
        written: &[&(CounterKey, i64)],
        now_ms: i64,
    ) -> Result<u64> {
        let (tenants, limits, starts, pers) = key_columns(written.iter().map(|(k, _)| k));
        let ends: Vec<i64> = written.iter().map(|(_, end)| *end).collect();
        // `OFFSET 0` keeps the limit's check a probe of its primary key (as a semi-join the
        // planner may scan every tenant's limits).
        sqlx::query(
            "INSERT INTO counters \
             (tenant_id, limit_id, per_value, period_start, period_end, used, updated_at) \
             SELECT k.t, k.l, k.p, k.s, k.e, 0, $5 \
             FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int8[], $6::text[]) \
                  AS k(t, l, s, e, p) \
             WHERE EXISTS (SELECT 1 FROM limits WHERE tenant_id = k.t AND id = k.l OFFSET 0) \
             ORDER BY k.t, k.l, k.p, k.s ON CONFLICT DO NOTHING",
        )
        .bind(&tenants)
        .bind(&limits)
        .bind(&starts)
        .bind(&ends)
        .bind(now_ms)
        .bind(&pers)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected())
        .map_err(db_error)
    }

    /// Counters only checked that have never been written: they read 0, with their limit's
    /// terms, and no row is made for them.
    async fn read_unwritten(
        tx: &mut Transaction<'static, Postgres>,
        keys: &[&CounterKey],
        found: &mut HashMap<CounterKey, CounterRow>,
    ) -> Result<()> {
        let tenants: Vec<Uuid> = keys.iter().map(|k| k.tenant_id).collect();
        let limits: Vec<&str> = keys.iter().map(|k| k.limit_id.as_str()).collect();
        let rows = sqlx::query(
            "SELECT l.tenant_id, l.id, l.amount, l.blocking FROM limits l \
             WHERE (l.tenant_id, l.id) IN (SELECT * FROM UNNEST($1::uuid[], $2::text[]))",
        )
        .bind(&tenants)
        .bind(&limits)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        let mut terms = HashMap::with_capacity(rows.len());
        for r in &rows {
            let tenant: Uuid = r.try_get("tenant_id").map_err(db_error)?;
            let id: String = r.try_get("id").map_err(db_error)?;
            let row = CounterRow {
                used: 0,
                amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                blocking: r.try_get("blocking").map_err(db_error)?,
            };
            terms.insert((tenant, id), row);
        }
        for key in keys {
            if let Some(row) = terms.get(&(key.tenant_id, key.limit_id.clone())) {
                found.insert((*key).clone(), *row);
            }
        }
        Ok(())
    }

    /// The counters of `keys` as last committed, with their limits' terms: one statement (one
    /// snapshot), no row lock; a counter never written reads 0.
    async fn read_counter_rows(
        pool: &PgPool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = key_columns(keys.iter());
        let rows = keyed(
            "SELECT k.t AS tenant_id, k.l AS limit_id, k.p AS per_value, k.s AS period_start, \
             COALESCE(c.used, 0) AS used, l.amount, l.blocking \
             FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::text[]) AS k(t, l, s, p) \
             JOIN limits l ON l.tenant_id = k.t AND l.id = k.l \
             LEFT JOIN counters c ON c.tenant_id = k.t AND c.limit_id = k.l \
             AND c.per_value = k.p AND c.period_start = k.s",
            &keys,
        )
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let row = CounterRow {
                    used: r.try_get("used").map_err(db_error)?,
                    amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                    blocking: r.try_get("blocking").map_err(db_error)?,
                };
                Ok((counter_key(r)?, row))
            })
            .collect()
    }

    /// The usage of the counters that exist among `keys`, in one round trip.
    async fn read_counters(pool: &PgPool, keys: &[CounterKey]) -> Result<HashMap<CounterKey, i64>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = key_columns(keys.iter());
        let rows = keyed(EXISTING_COUNTERS, &keys)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| Ok((counter_key(r)?, r.try_get("used").map_err(db_error)?)))
            .collect()
    }

    /// Writes each changed counter once, in one statement. An upsert, not an update: the
    /// retention sweep may have removed an idle counter holding 0 between this batch's insert
    /// and its lock, and the write must then make it again rather than be lost.
    async fn write_counters(
        tx: &mut Transaction<'static, Postgres>,
        _located: &(),
        counters: &[(CounterKey, i64, i64)],
        now_ms: i64,
    ) -> Result<()> {
        if counters.is_empty() {
            return Ok(());
        }
        let (tenants, limits, starts, pers) = key_columns(counters.iter().map(|(k, ..)| k));
        let ends: Vec<i64> = counters.iter().map(|(_, end, _)| *end).collect();
        let used: Vec<i64> = counters.iter().map(|(.., used)| *used).collect();
        sqlx::query(
            "INSERT INTO counters \
             (tenant_id, limit_id, per_value, period_start, period_end, used, updated_at) \
             SELECT k.t, k.l, k.p, k.s, k.e, k.u, $6 \
             FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $7::text[]) \
                  AS k(t, l, s, e, u, p) \
             ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
             DO UPDATE SET used = excluded.used, updated_at = excluded.updated_at",
        )
        .bind(&tenants)
        .bind(&limits)
        .bind(&starts)
        .bind(&ends)
        .bind(&used)
        .bind(now_ms)
        .bind(&pers)
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db_error)
    }
}

/// What a batch's lock keeps for its write: nothing, the write finds each counter by its key.
type Located = ();

shared_store!(PgStore, Postgres, PgRow);
tenant_store!(PgStore, Postgres, PgRow);
batch_steps!(Postgres, PgRow);
limit_steps!(Postgres);
limit_store!(PgStore, Postgres, PgRow);
chat_store!(PgStore, Postgres, PgRow);
notification_store!(PgStore, Postgres, PgRow);
alert_store!(PgStore, Postgres, PgRow);
zitadel_store!(PgStore, Postgres, PgRow);
confluent_store!(PgStore, Postgres, PgRow);
datarobot_store!(PgStore, Postgres, PgRow);
service_quota_store!(PgStore, Postgres, PgRow);
page_store!(PgStore, PgRow);
retention_store!(PgStore);
carry_steps!(Postgres);
aggregate_rows!(Postgres);
aggregate_store!(PgStore, Postgres);
audit_store!(PgStore, Postgres, PgRow);
history_store!(PgStore);

/// Counter keys as parallel arrays (tenants, limits, period starts, partitions), to bind to
/// `UNNEST`.
pub(super) type KeyColumns<'k> = (Vec<Uuid>, Vec<&'k str>, Vec<i64>, Vec<&'k str>);

/// The counters that exist among the keys bound by [`keyed`], with their usage.
pub(super) const EXISTING_COUNTERS: &str = "\
    SELECT c.tenant_id, c.limit_id, c.per_value, c.period_start, c.used FROM counters c \
    WHERE (c.tenant_id, c.limit_id, c.per_value, c.period_start) IN \
          (SELECT * FROM UNNEST($1::uuid[], $2::text[], $4::text[], $3::int8[]))";

/// The columns of counter keys, for [`keyed`] (and statements that bind more).
pub(super) fn key_columns<'k>(keys: impl Iterator<Item = &'k CounterKey>) -> KeyColumns<'k> {
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        columns.0.push(key.tenant_id);
        columns.1.push(key.limit_id.as_str());
        columns.2.push(key.period_start);
        columns.3.push(key.per_value.as_str());
    }
    columns
}

/// `sql` with `keys` bound as `$1` tenants, `$2` limit ids, `$3` period starts and `$4`
/// partitions.
pub(super) fn keyed<'q>(
    sql: &'q str,
    keys: &'q KeyColumns<'q>,
) -> Query<'q, Postgres, PgArguments> {
    let (tenants, limits, starts, pers) = keys;
    sqlx::query(sql)
        .bind(tenants)
        .bind(limits)
        .bind(starts)
        .bind(pers)
}

/// The counter key of a row with `tenant_id`, `limit_id`, `per_value` and `period_start`.
pub(super) fn counter_key(r: &PgRow) -> Result<CounterKey> {
    Ok(CounterKey {
        tenant_id: r.try_get("tenant_id").map_err(db_error)?,
        limit_id: r.try_get("limit_id").map_err(db_error)?,
        per_value: r.try_get("per_value").map_err(db_error)?,
        period_start: r.try_get("period_start").map_err(db_error)?,
    })
}
