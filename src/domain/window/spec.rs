//! The wire form of a window (`{"kind", "from"?, "interval_seconds"?}`) and why one is refused.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::Window;

const KINDS: &str =
    "none, second, minute, hour, day, calendar_day, calendar_week, calendar_month, anchored";

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
    use crate::domain::window::tests::anchored;

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
