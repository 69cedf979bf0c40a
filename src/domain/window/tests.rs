//! The periods of every kind of window.

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

pub(super) fn anchored(from: &str, interval: TimeDelta) -> Window {
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
