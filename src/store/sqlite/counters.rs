//! A batch's counters on SQLite: read with their limits' terms, and written back, each in one
//! statement whose keys are bound as one JSON array (SQLite has no array parameters).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::SqliteStore;
use crate::domain::limit::Amount;
use crate::domain::usage::batch::{BatchReads, CounterKey, CounterRow, FastHash};
use crate::domain::{Error, Result};
use crate::store::db_error;

/// The rowid of each counter a batch read that exists. The batch holds the write lock from its
/// read to its write, so a rowid read stays that counter's until the write.
pub(in crate::store) type Rowids = HashMap<CounterKey, i64, FastHash>;

impl SqliteStore {
    /// Reads every counter with its limit's terms; a counter not yet written reads 0 (and one
    /// of `_full` partitions is never written). The batch holds the write lock already, so it
    /// never needs to begin again (`_again`) to make a missing counter: its write makes it.
    pub(in crate::store) async fn lock_counters(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        reads: &BatchReads,
        _full: &HashSet<CounterKey>,
        _again: bool,
    ) -> Result<Option<(HashMap<CounterKey, CounterRow>, Rowids)>> {
        Self::counters_with_terms(tx, reads.counters.iter().map(|(key, _)| key))
            .await
            .map(Some)
    }

    /// The counters of `keys` as last committed: one statement, so one WAL snapshot serves
    /// every read, and the write lock is never taken (no transaction around it: each of BEGIN
    /// and ROLLBACK would be one more trip to the connection's thread).
    pub(in crate::store) async fn read_counter_rows(
        pool: &SqlitePool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, CounterRow>> {
        let mut conn = pool.acquire().await.map_err(db_error)?;
        let (found, _) = Self::counters_with_terms(&mut conn, keys.iter()).await?;
        Ok(found)
    }

    /// Each counter of `keys` with its limit's terms, on `conn`, in one statement (the keys bound
    /// as one JSON array, see [`keys_json`]); a counter not yet written reads 0. And the rowid
    /// of each that exists.
    async fn counters_with_terms<'k>(
        conn: &mut SqliteConnection,
        keys: impl Iterator<Item = &'k CounterKey>,
    ) -> Result<(HashMap<CounterKey, CounterRow>, Rowids)> {
        let keys: Vec<&CounterKey> = keys.collect();
        if keys.is_empty() {
            return Ok((HashMap::new(), Rowids::default()));
        }
        let rows = sqlx::query(
            "SELECT k.key AS i, l.amount, l.blocking, c.used, c.rowid AS r \
             FROM json_each($1) k \
             JOIN limits l ON l.tenant_id = unhex(k.value ->> 0) AND l.id = k.value ->> 1 \
             LEFT JOIN counters c ON c.tenant_id = l.tenant_id AND c.limit_id = l.id \
             AND c.per_value = k.value ->> 3 AND c.period_start = k.value ->> 2",
        )
        .bind(keys_json(keys.iter().map(|k| (*k, None))))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let mut found = HashMap::with_capacity(rows.len());
        let mut rowids = Rowids::with_capacity_and_hasher(rows.len(), FastHash::default());
        for r in &rows {
            let key = key_at(&keys, r.try_get("i").map_err(db_error)?)?;
            let counter = CounterRow {
                used: r
                    .try_get::<Option<i64>, _>("used")
                    .map_err(db_error)?
                    .unwrap_or(0),
                amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                blocking: r.try_get("blocking").map_err(db_error)?,
            };
            if let Some(rowid) = r.try_get::<Option<i64>, _>("r").map_err(db_error)? {
                rowids.insert((*key).clone(), rowid);
            }
            found.insert((*key).clone(), counter);
        }
        Ok((found, rowids))
    }

    /// The usage of the counters that exist among `keys`, in one statement.
    pub(in crate::store) async fn read_counters(
        pool: &SqlitePool,
        keys: &[CounterKey],
    ) -> Result<HashMap<CounterKey, i64>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = pool.acquire().await.map_err(db_error)?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(EXISTING_COUNTERS)
            .bind(keys_json(keys.iter().map(|k| (k, None))))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(i, used)| Ok((key_at(keys, i)?.clone(), used)))
            .collect()
    }

    /// Writes each changed counter once: those the batch read by rowid, in one statement (five
    /// times cheaper than finding each by its four-part key), the rest by an upsert.
    pub(in crate::store) async fn write_counters(
        tx: &mut Transaction<'static, Sqlite>,
        rowids: &Rowids,
        counters: &[(CounterKey, i64, i64)],
        now_ms: i64,
    ) -> Result<()> {
        let (known, new): (Vec<_>, Vec<_>) = counters
            .iter()
            .partition(|(key, ..)| rowids.contains_key(key));
        if !known.is_empty() {
            // `{"<rowid>": <used>, ...}`: integers only, nothing to escape.
            let mut by_rowid = String::with_capacity(known.len() * 16);
            for (key, _, used) in &known {
                let sep = if by_rowid.is_empty() { '{' } else { ',' };
                let _ = write!(by_rowid, "{sep}\"{}\":{used}", rowids[key]);
            }
            by_rowid.push('}');
            let updated = sqlx::query(
                "UPDATE counters SET used = j.value, updated_at = $2 \
                 FROM json_each($1) j WHERE counters.rowid = CAST(j.key AS INTEGER)",
            )
            .bind(by_rowid)
            .bind(now_ms)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
            if updated != known.len() as u64 {
                // Cannot happen under the write lock; if it did, the batch is tried again.
                return Err(Error::Internal(format!(
                    "{updated} of {} counters read in this batch were updated",
                    known.len()
                )));
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        // `WHERE true`: SQLite's upsert after `INSERT ... SELECT` needs it to parse.
        sqlx::query(
            "INSERT INTO counters \
             (tenant_id, limit_id, period_start, period_end, used, updated_at, per_value) \
             SELECT unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 4, value ->> 5, $2, \
             value ->> 3 FROM json_each($1) WHERE true \
             ON CONFLICT (tenant_id, limit_id, per_value, period_start) \
             DO UPDATE SET used = excluded.used, updated_at = excluded.updated_at",
        )
        .bind(keys_json(
            new.iter()
                .map(|(key, end, used)| (key, Some((*end, *used)))),
        ))
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db_error)
    }
}

/// The index in the array bound as `$1` (see [`keys_json`]) and the usage of each counter that
/// exists among the keys.
pub(in crate::store) const EXISTING_COUNTERS: &str = "SELECT k.key, c.used FROM json_each($1) k \
     JOIN counters c ON c.tenant_id = unhex(k.value ->> 0) AND c.limit_id = k.value ->> 1 \
     AND c.per_value = k.value ->> 3 AND c.period_start = k.value ->> 2";

/// The key at index `i` of the array bound with [`keys_json`].
pub(in crate::store) fn key_at<K>(keys: &[K], i: i64) -> Result<&K> {
    usize::try_from(i)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| Error::Internal(format!("no counter key at {i}")))
}

/// Counter keys as one JSON array to bind and read with `json_each`: each key an array
/// `[tenant id in hex, limit id, period start, per value]`, followed by its period's end and
/// usage when given. The tenant id is stored as a 16-byte blob, hence hex (`unhex` in SQL).
pub(in crate::store) fn keys_json<'k>(
    keys: impl Iterator<Item = (&'k CounterKey, Option<(i64, i64)>)>,
) -> String {
    let rows: Vec<serde_json::Value> = keys
        .map(|(key, written)| {
            let mut row = vec![
                key.tenant_id.simple().to_string().into(),
                key.limit_id.as_str().into(),
                key.period_start.into(),
                key.per_value.as_str().into(),
            ];
            if let Some((end, used)) = written {
                row.extend([end.into(), used.into()]);
            }
            serde_json::Value::Array(row)
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}
