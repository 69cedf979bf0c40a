//! The arithmetic of quota windows: how a limit's usage is grouped into
//! periods, when a period starts and when it resets.
//!
//! All instants are UTC. The instant of a reset belongs to the *new* period.
//! Fixed windows are aligned to the Unix epoch; calendar windows follow the
//! UTC calendar (weeks start on Monday); anchored windows repeat every
//! `interval` from `from`, exactly as ZITADEL's quota periods do.
//!
//! [`period`] holds the arithmetic on instants, [`spec`] the wire form and its validation.

mod period;
mod spec;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use period::{SECS_PER_DAY, anchored_start, fixed_start, from_secs};
pub use spec::{WindowError, WindowSpec};

/// How a limit's usage is grouped into periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "WindowSpec", try_from = "WindowSpec")]
pub enum Window {
    /// A gauge or running total: one period forever, never resets.
    None,
    /// Fixed one-second windows aligned to the Unix epoch.
    Second,
    /// Fixed one-minute windows aligned to the Unix epoch (start at :00).
    Minute,
    /// Fixed one-hour windows aligned to the Unix epoch.
    Hour,
    /// Fixed 86 400 s windows aligned to the Unix epoch (same instants as
    /// `CalendarDay`, kept as its own kind on the wire).
    Day,
    /// From UTC midnight to the next UTC midnight.
    CalendarDay,
    /// From Monday 00:00 UTC to the next Monday 00:00 UTC.
    CalendarWeek,
    /// From the 1st of the month 00:00 UTC to the 1st of the next month.
    CalendarMonth,
    /// Periods `from + k*interval` (ZITADEL). Build it with
    /// [`Window::anchored`], which checks that `interval` is positive.
    Anchored {
        from: DateTime<Utc>,
        interval: TimeDelta,
    },
}

impl Window {
    /// An anchored window; `interval` must be positive.
    pub fn anchored(from: DateTime<Utc>, interval: TimeDelta) -> Result<Window, WindowError> {
        if interval <= TimeDelta::zero() {
            return Err(WindowError::IntervalNotPositive);
        }
        Ok(Window::Anchored { from, interval })
    }

    /// Start of the period containing `now`. For `None`: the Unix epoch, a
    /// constant.
    pub fn period_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Window::None => DateTime::UNIX_EPOCH,
            Window::Second => fixed_start(now, 1),
            Window::Minute => fixed_start(now, 60),
            Window::Hour => fixed_start(now, 3_600),
            Window::Day | Window::CalendarDay => fixed_start(now, SECS_PER_DAY),
            Window::CalendarWeek => {
                let days = now.timestamp().div_euclid(SECS_PER_DAY);
                // 1970-01-05 (day 4 of the epoch) was a Monday.
                let monday = days - (days - 4).rem_euclid(7);
                from_secs(monday * SECS_PER_DAY)
            }
            Window::CalendarMonth => {
                let date = now.date_naive();
                let first = date.with_day(1).unwrap_or(date);
                first.and_time(NaiveTime::MIN).and_utc()
            }
            Window::Anchored { from, interval } => anchored_start(*from, *interval, now),
        }
    }

    /// When the period containing `now` ends (the next reset). `None` for
    /// `Window::None`, and for a reset beyond chrono's representable range
    /// (or an `Anchored` window built by hand with a non-positive interval).
    pub fn next_reset(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.period_start(now);
        match self {
            Window::None => None,
            Window::Second => start.checked_add_signed(TimeDelta::try_seconds(1)?),
            Window::Minute => start.checked_add_signed(TimeDelta::try_seconds(60)?),
            Window::Hour => start.checked_add_signed(TimeDelta::try_seconds(3_600)?),
            Window::Day | Window::CalendarDay => {
                start.checked_add_signed(TimeDelta::try_seconds(SECS_PER_DAY)?)
            }
            Window::CalendarWeek => start.checked_add_signed(TimeDelta::try_days(7)?),
            Window::CalendarMonth => {
                let (y, m) = (start.year(), start.month());
                let (y, m) = if m == 12 {
                    (y.checked_add(1)?, 1)
                } else {
                    (y, m + 1)
                };
                Some(
                    NaiveDate::from_ymd_opt(y, m, 1)?
                        .and_time(NaiveTime::MIN)
                        .and_utc(),
                )
            }
            Window::Anchored { interval, .. } => {
                if *interval <= TimeDelta::zero() {
                    return None;
                }
                start.checked_add_signed(*interval)
            }
        }
    }

    /// The kind name used on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Window::None => "none",
            Window::Second => "second",
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
            Window::CalendarDay => "calendar_day",
            Window::CalendarWeek => "calendar_week",
            Window::CalendarMonth => "calendar_month",
            Window::Anchored { .. } => "anchored",
        }
    }

    /// The wire form. An anchored interval is given in whole seconds
    /// (a sub-second part is dropped).
    pub fn spec(&self) -> WindowSpec {
        let (from, interval_seconds) = match self {
            Window::Anchored { from, interval } => (Some(*from), Some(interval.num_seconds())),
            _ => (None, None),
        };
        WindowSpec {
            kind: self.kind().to_owned(),
            from,
            interval_seconds,
        }
    }
}
