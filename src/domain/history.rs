//! Usage history: the final usage of a windowed limit's ended periods, per `per` partition. The
//! engine's counters of ended periods are the history itself: the retention sweep keeps them for
//! the history retention (long for windows of a day or more, short for shorter ones) rather than
//! only until they can no longer be read as the previous period, and this module reads them.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::audit::instant;
use super::authority;
use super::limit::{Amount, Limit};
use super::page::{Cursor, PageRequest, Paged};
use super::ports::LimitStore;
use super::principal::Caller;
use super::{Error, Result};

/// How far back a history reaches when the caller names no `from`.
pub const DEFAULT_SPAN: TimeDelta = TimeDelta::days(30);
/// History of windows at least this long is kept the long retention.
pub const LONG_WINDOW: TimeDelta = TimeDelta::days(1);
/// Default retention of the periods of windows of a day or longer.
pub const DEFAULT_LONG_RETENTION: TimeDelta = TimeDelta::days(90);
/// Default bound on the `per` partitions one period keeps as history.
pub const DEFAULT_PARTITIONS: i64 = 100;
/// Default retention of the periods of shorter windows.
pub const DEFAULT_SHORT_RETENTION: TimeDelta = TimeDelta::days(7);

/// One ended period's counter as stored (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCounter {
    pub period_start: i64,
    pub period_end: i64,
    /// `""` for the shared counter, else the JSON array of the partition's `per` values.
    pub per_value: String,
    pub used: i64,
}

/// One period of a limit's history, as answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub used: i64,
    /// The limit's amount in that period: `None` when unlimited, or unknown because the limit
    /// was changed since the period started.
    pub limit: Option<i64>,
    /// The partition's `per` values (`None`: the shared counter).
    pub partition: Option<Vec<Option<String>>>,
}

/// The store's side of the history.
pub trait HistoryStore: Send + Sync {
    /// Up to `max` counters of limit `limit_id` whose period started in `[from, to)` and ended
    /// by `now`, in `(period_start, per_value)` order, after `after`.
    #[allow(clippy::too_many_arguments)]
    fn ended_counters(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        from: i64,
        to: i64,
        now: i64,
        after: Option<(i64, String)>,
        max: i64,
    ) -> impl Future<Output = Result<Vec<EndedCounter>>> + Send;
}

/// The time range a client asks for, from the `from` and `to` query parameters: by default the
/// last [`DEFAULT_SPAN`] up to `now`; a bad one is a 400 naming the parameter.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.map(|t| instant(t, "to")).transpose()?.unwrap_or(now);
    let from = from
        .map(|t| instant(t, "from"))
        .transpose()?
        .unwrap_or(to - DEFAULT_SPAN);
    if from > to {
        return Err(Error::invalid_query("from", "must not be after `to`"));
    }
    Ok((from, to))
}

/// A page of limit `limit_id`'s ended periods in `[from, to)`, oldest first, for a caller who
/// may see the limit (`authority::may_see`; anyone else is told it is not there).
pub async fn history(
    store: &(impl LimitStore + HistoryStore),
    caller: &Caller,
    limit_id: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    page: &PageRequest,
) -> Result<Paged<Period>> {
    let limit = store
        .limit(caller.tenant_id, limit_id)
        .await?
        .filter(|l| authority::may_see(caller, l))
        .ok_or(Error::NotFound("limit"))?;
    let after = page
        .after
        .as_ref()
        .map(|c| {
            let start = c
                .created_at
                .ok_or_else(|| Error::invalid_query("cursor", "not a cursor this server gave"))?;
            Ok::<_, Error>((start.timestamp_millis(), c.id.clone()))
        })
        .transpose()?;
    let mut rows = store
        .ended_counters(
            caller.tenant_id,
            limit_id,
            from.timestamp_millis(),
            to.timestamp_millis(),
            now.timestamp_millis(),
            after,
            i64::from(page.limit) + 1,
        )
        .await?;
    let next = if rows.len() > page.limit as usize {
        rows.truncate(page.limit as usize);
        rows.last().map(|last| Cursor {
            created_at: DateTime::from_timestamp_millis(last.period_start),
            id: last.per_value.clone(),
        })
    } else {
        None
    };
    let items = rows.into_iter().filter_map(|c| period(&limit, c)).collect();
    Ok(Paged { items, next })
}

/// A counter as a period of `limit`'s history.
fn period(limit: &Limit, c: EndedCounter) -> Option<Period> {
    let period_start = DateTime::from_timestamp_millis(c.period_start)?;
    let amount = match limit.amount {
        // The amount then is known while the limit has not changed since the period started.
        Amount::Limited(n) if limit.updated_at <= period_start => Some(n),
        _ => None,
    };
    Some(Period {
        period_start,
        period_end: DateTime::from_timestamp_millis(c.period_end)?,
        used: c.used,
        limit: amount,
        partition: (!c.per_value.is_empty())
            .then(|| serde_json::from_str(&c.per_value).ok())
            .flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        instant(text, "t").expect("instant")
    }

    #[test]
    fn a_range_defaults_to_the_last_thirty_days_and_names_a_bad_bound() {
        let now = at("2026-03-31T00:00:00Z");
        assert_eq!(
            range(None, None, now).expect("range"),
            (now - DEFAULT_SPAN, now)
        );
        let (from, to) = range(Some("2026-03-01T00:00:00Z"), None, now).expect("range");
        assert_eq!((from, to), (at("2026-03-01T00:00:00Z"), now));
        for (from, to, named) in [
            (Some("march"), None, "from"),
            (None, Some("2026-02-30T00:00:00Z"), "to"),
            (
                Some("2026-03-02T00:00:00Z"),
                Some("2026-03-01T00:00:00Z"),
                "from",
            ),
        ] {
            match range(from, to, now) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field.name(), named),
                other => panic!("{from:?} {to:?}: {other:?}"),
            }
        }
    }
}
