//! Instants of periods: epoch-aligned fixed windows and anchored windows, in exact integer
//! arithmetic.

use chrono::{DateTime, TimeDelta, Utc};

pub(super) const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Start of the epoch-aligned fixed window of `len` seconds containing `now`.
pub(super) fn fixed_start(now: DateTime<Utc>, len: i64) -> DateTime<Utc> {
    let secs = now.timestamp();
    from_secs(secs - secs.rem_euclid(len))
}

pub(super) fn from_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn nanos_since_epoch(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos())
}

fn delta_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS_PER_SEC + i128::from(d.subsec_nanos())
}

/// `from + k*interval` for the largest k >= 0 with `from + (k+1)*interval > now`;
/// `from` itself when `now < from`. Exact integer arithmetic on nanoseconds.
pub(super) fn anchored_start(
    from: DateTime<Utc>,
    interval: TimeDelta,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let step = delta_nanos(interval);
    let elapsed = nanos_since_epoch(now) - nanos_since_epoch(from);
    if step <= 0 || elapsed <= 0 {
        return from;
    }
    let offset = elapsed - elapsed % step;
    let secs = i64::try_from(offset / NANOS_PER_SEC).ok();
    let nanos = u32::try_from(offset % NANOS_PER_SEC).ok();
    secs.zip(nanos)
        .and_then(|(s, n)| TimeDelta::new(s, n))
        .and_then(|d| from.checked_add_signed(d))
        .unwrap_or(from)
}
