//! The arithmetic of quota windows: how a limit's usage is grouped into
//! periods, when a period starts and when it resets.
//!
//! All instants are UTC. The instant of a reset belongs to the *new* period.
//! Fixed windows are aligned to the Unix epoch; calendar windows follow the
//! UTC calendar (weeks start on Monday); anchored windows repeat every
//! `interval` from `from`, exactly as ZITADEL's quota periods do.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i128 = 1_000_000_000;

const KINDS: &str =
    "none, second, minute, hour, day, calendar_day, calendar_week, calendar_month, anchored";

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

/// Start of the epoch-aligned fixed window of `len` seconds containing `now`.
fn fixed_start(now: DateTime<Utc>, len: i64) -> DateTime<Utc> {
    let secs = now.timestamp();
    from_secs(secs - secs.rem_euclid(len))
}

fn from_secs(secs: i64) -> DateTime<Utc> {
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
fn anchored_start(from: DateTime<Utc>, interval: TimeDelta, now: DateTime<Utc>) -> DateTime<Utc> {
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

/// The wire form of a [`Window`]:
/// `{"kind": "...", "from"?: RFC 3339, "interval_seconds"?: integer}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<i64>,
}

impl From<Window> for WindowSpec {
    fn from(w: Window) -> Self {
        w.spec()
    }
}

impl TryFrom<WindowSpec> for Window {
    type Error = WindowError;

    fn try_from(spec: WindowSpec) -> Result<Self, Self::Error> {
        let plain = match spec.kind.as_str() {
            "none" => Window::None,
            "second" => Window::Second,
            "minute" => Window::Minute,
            "hour" => Window::Hour,
            "day" => Window::Day,
            "calendar_day" => Window::CalendarDay,
            "calendar_week" => Window::CalendarWeek,
            "calendar_month" => Window::CalendarMonth,
            "anchored" => {
                let from = spec.from.ok_or(WindowError::MissingFrom)?;
                let secs = spec.interval_seconds.ok_or(WindowError::MissingInterval)?;
                if secs <= 0 {
                    return Err(WindowError::IntervalNotPositive);
                }
                let interval =
                    TimeDelta::try_seconds(secs).ok_or(WindowError::IntervalNotPositive)?;
                return Window::anchored(from, interval);
            }
            _ => return Err(WindowError::UnknownKind(spec.kind)),
        };
        if spec.from.is_some() {
            return Err(WindowError::UnexpectedField("window.from"));
        }
        if spec.interval_seconds.is_some() {
            return Err(WindowError::UnexpectedField("window.interval_seconds"));
        }
        Ok(plain)
    }
}

/// Why a [`WindowSpec`] is not a valid [`Window`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// `kind` is not one of the known names (the name given).
    UnknownKind(String),
    /// `anchored` without `from`.
    MissingFrom,
    /// `anchored` without `interval_seconds`.
    MissingInterval,
    /// `interval_seconds` is zero, negative, or too large to represent.
    IntervalNotPositive,
    /// A non-anchored kind carries this field (its full name, e.g. "window.from").
    UnexpectedField(&'static str),
}

impl WindowError {
    /// The offending field: "window.kind", "window.from" or "window.interval_seconds".
    pub fn field(&self) -> &'static str {
        match self {
            WindowError::UnknownKind(_) => "window.kind",
            WindowError::MissingFrom => "window.from",
            WindowError::MissingInterval | WindowError::IntervalNotPositive => {
                "window.interval_seconds"
            }
            WindowError::UnexpectedField(field) => field,
        }
    }
}

impl std::fmt::Display for WindowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowError::UnknownKind(kind) => {
                write!(f, "window.kind must be one of {KINDS} (got {kind:?})")
            }
            WindowError::MissingFrom => {
                write!(f, "window.from is required when window.kind is anchored")
            }
            WindowError::MissingInterval => {
                write!(
                    f,
                    "window.interval_seconds is required when window.kind is anchored"
                )
            }
            WindowError::IntervalNotPositive => write!(
                f,
                "window.interval_seconds must be a positive number of seconds (at most {})",
                i64::MAX / 1000
            ),
            WindowError::UnexpectedField(field) => {
                write!(f, "{field} is only allowed when window.kind is anchored")
            }
        }
    }
}

impl std::error::Error for WindowError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid RFC 3339")
            .with_timezone(&Utc)
    }

    /// Asserts, for each case "NOW in START..RESET", that `w`'s period
    /// containing NOW starts at START and resets at RESET.
    fn check(w: Window, cases: &[&str]) {
        for case in cases {
            let (now, period) = case.split_once(" in ").expect("NOW in START..RESET");
            let (start, reset) = period.split_once("..").expect("START..RESET");
            let now = t(now);
            assert_eq!(w.period_start(now), t(start), "{w:?} period_start: {case}");
            assert_eq!(
                w.next_reset(now),
                Some(t(reset)),
                "{w:?} next_reset: {case}"
            );
        }
    }

    fn anchored(from: &str, interval: TimeDelta) -> Window {
        Window::anchored(t(from), interval).expect("positive interval")
    }

    #[test]
    fn none_starts_at_the_epoch_and_never_resets() {
        for now in [
            "1970-01-01T00:00:00Z",
            "2026-05-17T12:34:56.789Z",
            "1960-01-01T00:00:00Z",
        ] {
            assert_eq!(Window::None.period_start(t(now)), DateTime::UNIX_EPOCH);
            assert_eq!(Window::None.next_reset(t(now)), None);
        }
    }

    #[test]
    fn a_second_window_resets_on_each_whole_second() {
        check(
            Window::Second,
            &[
                "2026-03-04T05:06:07Z in 2026-03-04T05:06:07Z..2026-03-04T05:06:08Z",
                "2026-03-04T05:06:06.999999999Z in 2026-03-04T05:06:06Z..2026-03-04T05:06:07Z",
                "2026-03-04T05:06:07.000000001Z in 2026-03-04T05:06:07Z..2026-03-04T05:06:08Z",
            ],
        );
    }

    #[test]
    fn a_minute_window_resets_at_second_zero_of_each_minute() {
        check(
            Window::Minute,
            &[
                "2026-03-04T05:07:00Z in 2026-03-04T05:07:00Z..2026-03-04T05:08:00Z",
                "2026-03-04T05:06:59.999Z in 2026-03-04T05:06:00Z..2026-03-04T05:07:00Z",
                "2026-03-04T05:07:00.001Z in 2026-03-04T05:07:00Z..2026-03-04T05:08:00Z",
            ],
        );
    }

    #[test]
    fn an_hour_window_resets_at_the_top_of_each_hour() {
        check(
            Window::Hour,
            &[
                "2026-03-04T06:00:00Z in 2026-03-04T06:00:00Z..2026-03-04T07:00:00Z",
                "2026-03-04T05:59:59.999Z in 2026-03-04T05:00:00Z..2026-03-04T06:00:00Z",
                "2026-03-04T06:00:00.001Z in 2026-03-04T06:00:00Z..2026-03-04T07:00:00Z",
                "2026-12-31T23:30:00Z in 2026-12-31T23:00:00Z..2027-01-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_day_and_a_calendar_day_both_reset_at_utc_midnight() {
        for w in [Window::Day, Window::CalendarDay] {
            check(
                w,
                &[
                    "2026-03-05T00:00:00Z in 2026-03-05T00:00:00Z..2026-03-06T00:00:00Z",
                    "2026-03-04T23:59:59.999Z in 2026-03-04T00:00:00Z..2026-03-05T00:00:00Z",
                    "2026-03-05T00:00:00.001Z in 2026-03-05T00:00:00Z..2026-03-06T00:00:00Z",
                    "2024-02-28T12:00:00Z in 2024-02-28T00:00:00Z..2024-02-29T00:00:00Z",
                    "2025-12-31T18:00:00Z in 2025-12-31T00:00:00Z..2026-01-01T00:00:00Z",
                ],
            );
        }
    }

    #[test]
    fn fixed_windows_before_the_epoch_still_align_to_it() {
        check(
            Window::Day,
            &["1969-12-31T23:59:59.5Z in 1969-12-31T00:00:00Z..1970-01-01T00:00:00Z"],
        );
        check(
            Window::Minute,
            &["1969-12-31T23:59:30Z in 1969-12-31T23:59:00Z..1970-01-01T00:00:00Z"],
        );
        check(
            Window::CalendarWeek,
            &["1969-12-31T12:00:00Z in 1969-12-29T00:00:00Z..1970-01-05T00:00:00Z"],
        );
    }

    #[test]
    fn a_calendar_week_starts_on_monday_at_midnight_utc() {
        // 2026-03-02 is a Monday, 2026-03-08 a Sunday.
        let w = Window::CalendarWeek;
        check(
            w,
            &[
                "2026-03-08T23:59:59Z in 2026-03-02T00:00:00Z..2026-03-09T00:00:00Z",
                "2026-03-08T23:59:59.999999999Z in 2026-03-02T00:00:00Z..2026-03-09T00:00:00Z",
                "2026-03-09T00:00:00Z in 2026-03-09T00:00:00Z..2026-03-16T00:00:00Z",
                "2026-03-09T00:00:00.001Z in 2026-03-09T00:00:00Z..2026-03-16T00:00:00Z",
                "2026-03-04T12:00:00Z in 2026-03-02T00:00:00Z..2026-03-09T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_week_spans_the_turn_of_the_year() {
        // 2025-12-29 is a Monday.
        let w = Window::CalendarWeek;
        check(
            w,
            &[
                "2026-01-01T00:00:00Z in 2025-12-29T00:00:00Z..2026-01-05T00:00:00Z",
                "2025-12-28T23:59:59Z in 2025-12-22T00:00:00Z..2025-12-29T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_month_resets_on_the_first_at_midnight_utc() {
        let w = Window::CalendarMonth;
        check(
            w,
            &[
                "2026-04-01T00:00:00Z in 2026-04-01T00:00:00Z..2026-05-01T00:00:00Z",
                "2026-03-31T23:59:59.999Z in 2026-03-01T00:00:00Z..2026-04-01T00:00:00Z",
                "2026-04-01T00:00:00.001Z in 2026-04-01T00:00:00Z..2026-05-01T00:00:00Z",
                "2026-04-15T10:00:00Z in 2026-04-01T00:00:00Z..2026-05-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_month_handles_30_and_31_day_month_ends() {
        let w = Window::CalendarMonth;
        check(
            w,
            &[
                "2026-04-30T23:59:59.999Z in 2026-04-01T00:00:00Z..2026-05-01T00:00:00Z",
                "2026-05-31T23:59:59.999Z in 2026-05-01T00:00:00Z..2026-06-01T00:00:00Z",
                "2026-06-30T23:59:59Z in 2026-06-01T00:00:00Z..2026-07-01T00:00:00Z",
                "2026-08-31T12:00:00Z in 2026-08-01T00:00:00Z..2026-09-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_month_handles_february_in_leap_years() {
        let w = Window::CalendarMonth;
        check(
            w,
            &[
                "2024-02-29T23:59:59.999Z in 2024-02-01T00:00:00Z..2024-03-01T00:00:00Z",
                "2024-03-01T00:00:00Z in 2024-03-01T00:00:00Z..2024-04-01T00:00:00Z",
                "2000-02-29T12:00:00Z in 2000-02-01T00:00:00Z..2000-03-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_month_handles_february_in_non_leap_years() {
        let w = Window::CalendarMonth;
        // 2100 is divisible by 100 but not by 400: not a leap year.
        check(
            w,
            &[
                "2023-02-28T23:59:59.999Z in 2023-02-01T00:00:00Z..2023-03-01T00:00:00Z",
                "2023-03-01T00:00:00Z in 2023-03-01T00:00:00Z..2023-04-01T00:00:00Z",
                "2100-02-28T23:59:59Z in 2100-02-01T00:00:00Z..2100-03-01T00:00:00Z",
                "2100-03-01T00:00:00Z in 2100-03-01T00:00:00Z..2100-04-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_calendar_month_rolls_december_over_into_january_of_the_next_year() {
        let w = Window::CalendarMonth;
        check(
            w,
            &[
                "2025-12-31T23:59:59.999Z in 2025-12-01T00:00:00Z..2026-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z in 2026-01-01T00:00:00Z..2026-02-01T00:00:00Z",
                "2025-12-01T00:00:00Z in 2025-12-01T00:00:00Z..2026-01-01T00:00:00Z",
            ],
        );
    }

    #[test]
    fn an_anchored_window_before_from_is_in_the_first_period() {
        let w = anchored("2026-01-10T08:00:00Z", TimeDelta::days(30));
        check(
            w,
            &[
                "2026-01-01T00:00:00Z in 2026-01-10T08:00:00Z..2026-02-09T08:00:00Z",
                "2026-01-10T07:59:59.999Z in 2026-01-10T08:00:00Z..2026-02-09T08:00:00Z",
            ],
        );
    }

    #[test]
    fn an_anchored_window_starts_its_first_period_exactly_at_from() {
        let w = anchored("2026-01-10T08:00:00Z", TimeDelta::days(30));
        check(
            w,
            &[
                "2026-01-10T08:00:00Z in 2026-01-10T08:00:00Z..2026-02-09T08:00:00Z",
                "2026-01-10T08:00:00.001Z in 2026-01-10T08:00:00Z..2026-02-09T08:00:00Z",
            ],
        );
    }

    #[test]
    fn an_anchored_window_resets_at_from_plus_the_interval_exactly() {
        let w = anchored("2026-01-10T08:00:00Z", TimeDelta::days(30));
        check(
            w,
            &[
                "2026-02-09T07:59:59.999999999Z in 2026-01-10T08:00:00Z..2026-02-09T08:00:00Z",
                "2026-02-09T08:00:00Z in 2026-02-09T08:00:00Z..2026-03-11T08:00:00Z",
                "2026-02-09T08:00:00.000000001Z in 2026-02-09T08:00:00Z..2026-03-11T08:00:00Z",
            ],
        );
    }

    #[test]
    fn an_anchored_window_stays_exact_after_ten_years_of_hourly_intervals() {
        let w = anchored("2016-03-27T01:30:00.250Z", TimeDelta::hours(1));
        let hours = 10 * 8766; // ten Julian years of hours
        let start = t("2016-03-27T01:30:00.250Z") + TimeDelta::hours(hours);
        assert_eq!(start, t("2026-03-27T13:30:00.250Z"));
        let now = start + TimeDelta::minutes(59) + TimeDelta::nanoseconds(999_999_999);
        assert_eq!(w.period_start(now), start);
        assert_eq!(w.next_reset(now), Some(start + TimeDelta::hours(1)));
        assert_eq!(w.period_start(start), start);
        assert_eq!(
            w.period_start(start - TimeDelta::nanoseconds(1)),
            start - TimeDelta::hours(1)
        );
    }

    #[test]
    fn an_anchored_window_with_a_year_long_interval_spans_centuries() {
        let w = anchored("2000-01-01T00:00:00Z", TimeDelta::days(365));
        // 300 intervals of 365 days after 2000-01-01.
        let start = t("2000-01-01T00:00:00Z") + TimeDelta::days(365 * 300);
        assert_eq!(w.period_start(start + TimeDelta::days(10)), start);
        assert_eq!(w.next_reset(start - TimeDelta::seconds(1)), Some(start));
    }

    #[test]
    fn an_anchored_window_handles_intervals_that_do_not_divide_a_day() {
        let w = anchored("2026-01-01T00:00:00Z", TimeDelta::minutes(7));
        // 1440 minutes = 205 * 7 + 5.
        check(
            w,
            &[
                "2026-01-02T00:00:00Z in 2026-01-01T23:55:00Z..2026-01-02T00:02:00Z",
                "2026-01-02T00:02:00Z in 2026-01-02T00:02:00Z..2026-01-02T00:09:00Z",
                "2026-01-02T00:01:59.999Z in 2026-01-01T23:55:00Z..2026-01-02T00:02:00Z",
            ],
        );
    }

    #[test]
    fn an_anchored_window_built_by_hand_with_a_bad_interval_does_not_panic() {
        let from = t("2026-01-01T00:00:00Z");
        let w = Window::Anchored {
            from,
            interval: TimeDelta::zero(),
        };
        assert_eq!(w.period_start(t("2026-06-01T00:00:00Z")), from);
        assert_eq!(w.next_reset(t("2026-06-01T00:00:00Z")), None);
    }

    #[test]
    fn the_anchored_constructor_rejects_non_positive_intervals() {
        let from = t("2026-01-01T00:00:00Z");
        assert_eq!(
            Window::anchored(from, TimeDelta::zero()),
            Err(WindowError::IntervalNotPositive)
        );
        assert_eq!(
            Window::anchored(from, TimeDelta::seconds(-5)),
            Err(WindowError::IntervalNotPositive)
        );
        assert!(Window::anchored(from, TimeDelta::nanoseconds(1)).is_ok());
    }

    #[test]
    fn every_kind_has_its_wire_name() {
        let names: Vec<&str> = all_windows().iter().map(Window::kind).collect();
        assert_eq!(names.join(", "), KINDS);
    }

    fn all_windows() -> Vec<Window> {
        vec![
            Window::None,
            Window::Second,
            Window::Minute,
            Window::Hour,
            Window::Day,
            Window::CalendarDay,
            Window::CalendarWeek,
            Window::CalendarMonth,
            anchored("2026-01-10T08:00:00Z", TimeDelta::days(30)),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        for w in all_windows() {
            let json = serde_json::to_string(&w).expect("valid json");
            assert_eq!(
                serde_json::from_str::<Window>(&json).expect("valid json"),
                w,
                "{json}"
            );
            let spec: WindowSpec = serde_json::from_str(&json).expect("valid json");
            assert_eq!(spec, w.spec());
            assert_eq!(Window::try_from(spec).expect("valid spec"), w);
        }
    }

    #[test]
    fn the_wire_form_is_a_kind_object_with_optional_from_and_interval_seconds() {
        assert_eq!(
            serde_json::to_value(Window::CalendarMonth).expect("valid json"),
            serde_json::json!({"kind": "calendar_month"})
        );
        let w = anchored("2026-01-10T08:00:00Z", TimeDelta::days(30));
        assert_eq!(
            serde_json::to_value(w).expect("valid json"),
            serde_json::json!({"kind": "anchored", "from": "2026-01-10T08:00:00Z", "interval_seconds": 2_592_000})
        );
        let parsed: Window = serde_json::from_str(
            r#"{"kind":"anchored","from":"2026-01-10T09:00:00+01:00","interval_seconds":60}"#,
        )
        .expect("valid json");
        assert_eq!(
            parsed,
            anchored("2026-01-10T08:00:00Z", TimeDelta::minutes(1))
        );
        // Unknown fields are ignored.
        let parsed: Window =
            serde_json::from_str(r#"{"kind":"hour","note":"x"}"#).expect("valid json");
        assert_eq!(parsed, Window::Hour);
    }

    fn parse_err(json: &str) -> WindowError {
        let spec: WindowSpec = serde_json::from_str(json).expect("valid json");
        Window::try_from(spec).expect_err("invalid spec")
    }

    #[test]
    fn an_unknown_kind_is_rejected_naming_the_kind_field() {
        let e = parse_err(r#"{"kind":"fortnight"}"#);
        assert_eq!(e, WindowError::UnknownKind("fortnight".into()));
        assert_eq!(e.field(), "window.kind");
        assert!(
            e.to_string()
                .starts_with("window.kind must be one of none, second,"),
            "{e}"
        );
        assert!(parse_err(r#"{"kind":"Hour"}"#) == WindowError::UnknownKind("Hour".into()));
        let msg = serde_json::from_str::<Window>(r#"{"kind":"fortnight"}"#)
            .expect_err("invalid spec")
            .to_string();
        assert!(msg.contains("window.kind must be one of"), "{msg}");
    }

    #[test]
    fn an_anchored_window_without_from_is_rejected() {
        let e = parse_err(r#"{"kind":"anchored","interval_seconds":60}"#);
        assert_eq!(e, WindowError::MissingFrom);
        assert_eq!(e.field(), "window.from");
        assert!(e.to_string().contains("window.from is required"), "{e}");
    }

    #[test]
    fn an_anchored_window_without_an_interval_is_rejected() {
        let e = parse_err(r#"{"kind":"anchored","from":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(e, WindowError::MissingInterval);
        assert_eq!(e.field(), "window.interval_seconds");
        assert!(
            e.to_string()
                .contains("window.interval_seconds is required"),
            "{e}"
        );
    }

    #[test]
    fn an_anchored_window_with_a_non_positive_or_huge_interval_is_rejected() {
        for secs in ["0", "-60", "9223372036854775807"] {
            let e = parse_err(&format!(
                r#"{{"kind":"anchored","from":"2026-01-01T00:00:00Z","interval_seconds":{secs}}}"#
            ));
            assert_eq!(e, WindowError::IntervalNotPositive, "{secs}");
            assert_eq!(e.field(), "window.interval_seconds");
            assert!(
                e.to_string()
                    .contains("must be a positive number of seconds"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_non_anchored_kind_with_from_or_interval_is_rejected() {
        let e = parse_err(r#"{"kind":"day","from":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(e, WindowError::UnexpectedField("window.from"));
        assert_eq!(e.field(), "window.from");
        assert_eq!(
            e.to_string(),
            "window.from is only allowed when window.kind is anchored"
        );
        let e = parse_err(r#"{"kind":"none","interval_seconds":60}"#);
        assert_eq!(e, WindowError::UnexpectedField("window.interval_seconds"));
        assert_eq!(e.field(), "window.interval_seconds");
    }

    #[test]
    fn window_error_is_a_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(WindowError::MissingFrom);
        assert!(!e.to_string().is_empty());
    }
}
