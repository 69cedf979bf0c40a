//! How long what the engine and the outbox write is kept. Each row is kept for as long as it can
//! still be read or acted on, then swept, so nothing a client can cause grows forever:
//!
//! - a windowed counter: its period, one more window's length (so the previous period can still
//!   be read just after a reset) and a margin, and at least the history retention past its
//!   period's end (long for windows of a day or more, short for shorter ones): an ended period's
//!   counter is the limit's usage history (`crate::domain::history`), of which each period keeps
//!   at most a bounded number of `per` partitions (those that used the most);
//! - a `per` partition's counter of a `window: none` limit: while it holds anything; once back
//!   at 0 and idle, it is swept (a missing counter reads 0, so nothing changes for a client);
//! - an outbox row: pending until delivered, refused, or dead-lettered after a bounded number
//!   of attempts or a bounded age; then kept a while for inspection and swept once its period
//!   has ended too (until then it is what says its threshold already fired);
//! - an audit record: the audit retention after it was written.

use std::future::Future;

use chrono::TimeDelta;

use super::Result;

/// The retention rules; the defaults are safe for any deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Kept past a windowed counter's period beyond one more window's length.
    pub counter_margin: TimeDelta,
    /// How long a `window: none` partition's counter holding 0 stays after its last write.
    pub idle_partition: TimeDelta,
    /// Failed deliveries after which an outbox row is dead-lettered.
    pub outbox_max_attempts: i32,
    /// Age after which an undelivered outbox row is dead-lettered, whatever its attempts.
    pub outbox_max_age: TimeDelta,
    /// How long delivered, refused and dead outbox rows are kept after their last change (and
    /// at least until their period ends).
    pub outbox_retention: TimeDelta,
    /// How long the counters of ended periods of windows of a day or longer are kept as history.
    pub history_long: TimeDelta,
    /// How long the counters of ended periods of shorter windows are kept as history.
    pub history_short: TimeDelta,
    /// Most `per` partitions of one period kept as history (those that used the most): a
    /// client that spreads its usage over ever new values cannot grow the history past it.
    pub history_partitions: i64,
    /// How long audit records are kept.
    pub audit: TimeDelta,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            counter_margin: TimeDelta::minutes(10),
            idle_partition: TimeDelta::hours(1),
            outbox_max_attempts: 20,
            outbox_max_age: TimeDelta::days(3),
            outbox_retention: TimeDelta::days(7),
            history_long: super::history::DEFAULT_LONG_RETENTION,
            history_short: super::history::DEFAULT_SHORT_RETENTION,
            history_partitions: super::history::DEFAULT_PARTITIONS,
            audit: super::audit::DEFAULT_RETENTION,
        }
    }
}

/// What one sweep removed or dead-lettered, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Windowed counters past their retention.
    pub counters: u64,
    /// `per` partitions of ended periods past the history's bound.
    pub partitions: u64,
    /// Idle `window: none` partition counters holding 0.
    pub idle_partitions: u64,
    /// Outbox rows given up on.
    pub dead_lettered: u64,
    /// Delivered, refused or dead outbox rows past their retention.
    pub outbox: u64,
    /// Audit records past their retention.
    pub audit: u64,
}

/// The store's side of retention.
pub trait RetentionStore: Send + Sync {
    /// Applies `retention` at `now_ms` (epoch milliseconds): dead-letters what is given up on
    /// and deletes what is no longer kept.
    fn sweep_retained(
        &self,
        now_ms: i64,
        retention: &Retention,
    ) -> impl Future<Output = Result<Swept>> + Send;
}
