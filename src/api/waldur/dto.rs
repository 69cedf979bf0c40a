//! Waldur's wire types, under Waldur's schema names, and the reading of `set_quota` bodies the
//! way Django REST framework reads them (integers may come as numbers or numeric strings).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::domain::Error;
use crate::domain::waldur::{
    LimitChanges, PerPeriod, Period, QuotaChange, TokenQuotaUsage, check_limit, parse_user,
};

/// A user's token quota and usage, in Waldur's field order.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenQuotaUsageResponse {
    /// Daily token limit. Null uses system default. -1 means unlimited.
    #[schema(minimum = -1, maximum = 2147483647)]
    pub daily_limit: Option<i64>,
    /// Tokens used today (UTC).
    #[schema(minimum = 0)]
    pub daily_usage: i64,
    /// Remaining daily tokens; null when the effective limit is unlimited.
    pub daily_remaining: Option<i64>,
    /// The next midnight, UTC.
    pub daily_reset_at: DateTime<Utc>,
    /// System default daily token limit (`QUOTAPLANE_CHAT_DAILY_DEFAULT`).
    pub daily_system_default: i64,
    /// Weekly token limit. Null uses system default. -1 means unlimited.
    #[schema(minimum = -1, maximum = 2147483647)]
    pub weekly_limit: Option<i64>,
    /// Tokens used this week (from Monday 00:00 UTC).
    #[schema(minimum = 0)]
    pub weekly_usage: i64,
    /// Remaining weekly tokens; null when the effective limit is unlimited.
    pub weekly_remaining: Option<i64>,
    /// The next Monday, 00:00 UTC.
    pub weekly_reset_at: DateTime<Utc>,
    /// System default weekly token limit (`QUOTAPLANE_CHAT_WEEKLY_DEFAULT`).
    pub weekly_system_default: i64,
    /// Monthly token limit. Null uses system default. -1 means unlimited.
    #[schema(minimum = -1, maximum = 2147483647)]
    pub monthly_limit: Option<i64>,
    /// Tokens used this month (UTC).
    #[schema(minimum = 0)]
    pub monthly_usage: i64,
    /// Remaining monthly tokens; null when the effective limit is unlimited.
    pub monthly_remaining: Option<i64>,
    /// The 1st of next month, 00:00 UTC.
    pub monthly_reset_at: DateTime<Utc>,
    /// System default monthly token limit (`QUOTAPLANE_CHAT_MONTHLY_DEFAULT`).
    pub monthly_system_default: i64,
}

impl From<TokenQuotaUsage> for TokenQuotaUsageResponse {
    fn from(u: TokenQuotaUsage) -> Self {
        let PerPeriod {
            daily: d,
            weekly: w,
            monthly: m,
        } = u;
        Self {
            daily_limit: d.limit,
            daily_usage: d.usage,
            daily_remaining: d.remaining,
            daily_reset_at: d.reset_at,
            daily_system_default: d.system_default,
            weekly_limit: w.limit,
            weekly_usage: w.usage,
            weekly_remaining: w.remaining,
            weekly_reset_at: w.reset_at,
            weekly_system_default: w.system_default,
            monthly_limit: m.limit,
            monthly_usage: m.usage,
            monthly_remaining: m.remaining,
            monthly_reset_at: m.reset_at,
            monthly_system_default: m.system_default,
        }
    }
}

/// The body of `set_quota`. Only the limits present change; `null` means the system default.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SetTokenQuotaRequest {
    /// UUID of the user to set quota for (32 hex digits, with or without hyphens).
    #[schema(format = Uuid)]
    pub user_uuid: String,
    /// Daily token limit. Omit to keep, null = system default, -1 = unlimited.
    #[schema(minimum = -1, maximum = 2147483647, nullable)]
    pub daily_limit: Option<Option<i64>>,
    /// Weekly token limit. Omit to keep, null = system default, -1 = unlimited.
    #[schema(minimum = -1, maximum = 2147483647, nullable)]
    pub weekly_limit: Option<Option<i64>>,
    /// Monthly token limit. Omit to keep, null = system default, -1 = unlimited.
    #[schema(minimum = -1, maximum = 2147483647, nullable)]
    pub monthly_limit: Option<Option<i64>>,
}

/// The query of `GET usage`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// The user to show (staff and support only, unless it is the caller); omit for your own.
    #[param(format = Uuid)]
    pub user_uuid: Option<String>,
}

/// A Django REST framework error: `{"detail": "..."}` (validation errors are
/// `{"<field>": ["..."]}` instead).
#[derive(Debug, Serialize, ToSchema)]
pub struct WaldurErrorDetail {
    pub detail: String,
}

/// Reads a `set_quota` body (a JSON object, or a form's fields). Every invalid field is
/// reported, in the serializer's field order, as DRF does; unknown keys are ignored.
pub fn parse_set_quota(body: &Value) -> Result<QuotaChange, Vec<Error>> {
    let Value::Object(fields) = body else {
        return Err(vec![Error::invalid_body(
            "",
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(body)
            ),
        )]);
    };
    let mut errors = Vec::new();
    let invalid_uuid = || Error::invalid_body("/user_uuid", "Must be a valid UUID.");
    let user = match fields.get("user_uuid") {
        None => Err(required("user_uuid")),
        Some(Value::Null) => Err(not_null("user_uuid")),
        Some(Value::String(raw)) => parse_user(raw).ok_or_else(invalid_uuid),
        Some(_) => Err(invalid_uuid()),
    }
    .map_err(|e| errors.push(e))
    .ok();
    let mut limits = LimitChanges::default();
    for period in Period::ALL {
        let change = match limit_change(fields, period.limit_field()) {
            Ok(change) => change,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match period {
            Period::Daily => limits.daily = change,
            Period::Weekly => limits.weekly = change,
            Period::Monthly => limits.monthly = change,
        }
    }
    match user {
        Some(user) if errors.is_empty() => Ok(QuotaChange { user, limits }),
        _ => Err(errors),
    }
}

fn limit_change(fields: &Map<String, Value>, field: &str) -> Result<Option<Option<i64>>, Error> {
    match fields.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => Ok(Some(Some(check_limit(field, integer(field, value)?)?))),
    }
}

/// An integer as DRF's `IntegerField` reads it: a number without a fractional part, or a string
/// of one (`"5"`, `"5.0"`).
fn integer(field: &str, value: &Value) -> Result<i64, Error> {
    let invalid = || Error::invalid_body(format!("/{field}"), "A valid integer is required.");
    let text = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(i);
            }
            if n.as_u64().is_some() {
                return Ok(i64::MAX);
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.is_finite() => return Ok(f as i64),
                _ => return Err(invalid()),
            }
        }
        Value::String(s) if s.len() > 1000 => {
            return Err(Error::invalid_body(
                format!("/{field}"),
                "String value too large.",
            ));
        }
        Value::String(s) => s.trim(),
        _ => return Err(invalid()),
    };
    let whole = match text.find('.') {
        Some(dot) if text[dot + 1..].bytes().all(|b| b == b'0') => &text[..dot],
        Some(_) => return Err(invalid()),
        None => text,
    };
    let digits = whole.strip_prefix(['+', '-']).unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    // Past i64: a number all the same, too large or too small for any limit.
    Ok(whole.parse::<i64>().unwrap_or(if whole.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }))
}

fn required(field: &str) -> Error {
    Error::invalid_body(format!("/{field}"), "This field is required.")
}

fn not_null(field: &str) -> Error {
    Error::invalid_body(format!("/{field}"), "This field may not be null.")
}

/// The Python type name DRF reports for a body that is not an object.
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Null | Value::Object(_) => "NoneType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_errors(body: Value) -> Vec<(String, String)> {
        match parse_set_quota(&body) {
            Err(errors) => errors
                .into_iter()
                .map(|e| match e {
                    Error::Invalid { field, message } => (field.name().to_owned(), message),
                    other => panic!("expected a field error, got {other:?}"),
                })
                .collect(),
            Ok(change) => panic!("expected field errors, got {change:?}"),
        }
    }

    fn field_error(body: Value) -> (String, String) {
        field_errors(body).remove(0)
    }

    #[test]
    fn integers_are_read_as_drf_reads_them() {
        assert_eq!(integer("f", &json!(5)).ok(), Some(5));
        assert_eq!(integer("f", &json!(5.0)).ok(), Some(5));
        assert_eq!(integer("f", &json!("7")).ok(), Some(7));
        assert_eq!(integer("f", &json!(" -1 ")).ok(), Some(-1));
        assert_eq!(integer("f", &json!("8.00")).ok(), Some(8));
        assert!(integer("f", &json!(5.5)).is_err());
        assert!(integer("f", &json!("x")).is_err());
        assert!(integer("f", &json!(true)).is_err());
        assert!(integer("f", &json!([1])).is_err());
        assert_eq!(
            integer("f", &json!("99999999999999999999")).ok(),
            Some(i64::MAX)
        );
    }

    #[test]
    fn a_partial_body_changes_only_what_it_names() {
        let change = parse_set_quota(&json!({
            "user_uuid": "0123456789abcdef0123456789abcdef",
            "daily_limit": 10, "monthly_limit": null, "extra": 1
        }))
        .expect("valid");
        assert_eq!(change.limits.daily, Some(Some(10)));
        assert_eq!(change.limits.weekly, None);
        assert_eq!(change.limits.monthly, Some(None));
    }

    #[test]
    fn every_bad_field_is_named_in_the_serializers_order() {
        assert_eq!(
            field_errors(json!({"monthly_limit": -2, "daily_limit": "x", "weekly_limit": 3})),
            vec![
                ("/user_uuid".into(), "This field is required.".into()),
                ("/daily_limit".into(), "A valid integer is required.".into()),
                (
                    "/monthly_limit".into(),
                    "Ensure this value is greater than or equal to -1.".into()
                ),
            ]
        );
    }

    #[test]
    fn the_first_bad_field_is_named_with_drf_messages() {
        assert_eq!(
            field_error(json!({"daily_limit": 1})),
            ("/user_uuid".into(), "This field is required.".into())
        );
        assert_eq!(
            field_error(json!({"user_uuid": "nope"})),
            ("/user_uuid".into(), "Must be a valid UUID.".into())
        );
        assert_eq!(
            field_error(
                json!({"user_uuid": "0123456789abcdef0123456789abcdef", "weekly_limit": "x"})
            ),
            (
                "/weekly_limit".into(),
                "A valid integer is required.".into()
            )
        );
        assert_eq!(
            field_error(json!([1])),
            (
                "".into(),
                "Invalid data. Expected a dictionary, but got list.".into()
            )
        );
    }
}
