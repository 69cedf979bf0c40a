//! The system API's wire format (protojson of `zitadel.system.v1`), with the proto-level
//! validation (protoc-gen-validate) of the request messages. Names are the vendor's schema names.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::zitadel::{Details, NotificationSpec, QuotaSpec, Unit};
use crate::domain::{Error, Result};

/// Longest `callUrl`, in characters.
const MAX_CALL_URL_CHARS: usize = 200;
/// Largest protobuf Duration, in seconds (10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

/// A unit: its enum name or its number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = v1Unit)]
pub enum V1Unit {
    /// `UNIT_UNIMPLEMENTED` (refused), `UNIT_REQUESTS_ALL_AUTHENTICATED`,
    /// `UNIT_ACTIONS_ALL_RUN_SECONDS`.
    Name(String),
    /// 0 (refused), 1 or 2.
    Number(i64),
}

/// A uint64 or uint32, as protojson accepts it: a number or a decimal string.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Uint {
    Number(u64),
    Text(String),
}

impl Uint {
    fn value(&self, field: &str, pointer: &str) -> Result<u64> {
        match self {
            Uint::Number(n) => Ok(*n),
            Uint::Text(t) => t.parse().map_err(|_| {
                Error::invalid_body(pointer, format!("proto: invalid value for {field}: {t:?}"))
            }),
        }
    }
}

/// A notification, as `zitadel.quota.v1.Notification`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = v1Notification)]
pub struct V1Notification {
    /// The percentage relative to the quota's amount on which the callUrl is called (1 or more).
    #[serde(default)]
    pub percent: Option<Uint>,
    /// If true, the callUrl is called again at percent + 100, percent + 200, ... in a period.
    #[serde(default)]
    pub repeat: Option<bool>,
    /// Called with HTTP POST and a JSON payload with "unit", "id", "callURL", "periodStart",
    /// "threshold" and "usage"; an absolute URL of at most 200 characters.
    #[serde(default, rename = "callUrl", alias = "call_url")]
    pub call_url: Option<String>,
}

/// The body of AddQuota (and of SetQuota, which has the same fields).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SystemServiceAddQuotaBody {
    /// The unit a quota is imposed on.
    #[serde(default)]
    pub unit: Option<V1Unit>,
    /// The start of the first period (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// The periods' length as a protobuf Duration, such as `"3600s"`; at least one minute.
    #[serde(default, rename = "resetInterval", alias = "reset_interval")]
    pub reset_interval: Option<String>,
    /// The quota amount of units (uint64, as a number or a string).
    #[serde(default)]
    pub amount: Option<Uint>,
    /// Whether further usage is blocked once the amount is used.
    #[serde(default)]
    pub limit: Option<bool>,
    /// Called when certain percentages of the amount are reached.
    #[serde(default)]
    pub notifications: Option<Vec<V1Notification>>,
}

/// The body of SetQuota: the fields of AddQuota.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct SystemServiceSetQuotaBody(pub SystemServiceAddQuotaBody);

/// Which request a body belongs to: they differ only in AddQuota's `amount > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Add,
    Set,
}

impl Request {
    fn name(self) -> &'static str {
        match self {
            Request::Add => "AddQuotaRequest",
            Request::Set => "SetQuotaRequest",
        }
    }
}

/// A protoc-gen-validate failure, worded as the Go validators word it.
fn pgv(request: Request, field: &str, pointer: &str, rule: &str) -> Error {
    Error::invalid_body(
        pointer,
        format!("invalid {}.{field}: {rule}", request.name()),
    )
}

impl SystemServiceAddQuotaBody {
    /// The quota asked for, after the proto-level checks, in the message's field order.
    pub fn into_spec(self, request: Request) -> Result<QuotaSpec> {
        let unit = match self.unit {
            None => None,
            Some(V1Unit::Name(name)) if name == "UNIT_UNIMPLEMENTED" => None,
            Some(V1Unit::Name(name)) => Some(Unit::from_name(&name).ok_or_else(|| {
                Error::invalid_body(
                    "/unit",
                    format!("proto: invalid value for enum type: {name:?}"),
                )
            })?),
            Some(V1Unit::Number(0)) => None,
            Some(V1Unit::Number(n)) => Some(Unit::from_number(n).ok_or_else(|| {
                pgv(
                    request,
                    "Unit",
                    "/unit",
                    "value must be one of the defined enum values",
                )
            })?),
        };
        let unit =
            unit.ok_or_else(|| pgv(request, "Unit", "/unit", "value must not be in list [0]"))?;
        let from = match self.from {
            Some(text) => Some(DateTime::parse_from_rfc3339(&text).map_err(|_| {
                Error::invalid_body(
                    "/from",
                    format!("proto: invalid google.protobuf.Timestamp value {text:?}"),
                )
            })?),
            None => None,
        };
        let from = from.ok_or_else(|| pgv(request, "From", "/from", "value is required"))?;
        let reset_interval = match self.reset_interval {
            Some(text) => Some(duration(&text)?),
            None => None,
        };
        let reset_interval = reset_interval.ok_or_else(|| {
            pgv(
                request,
                "ResetInterval",
                "/resetInterval",
                "value is required",
            )
        })?;
        let amount = match &self.amount {
            Some(amount) => amount.value("uint64 field amount", "/amount")?,
            None => 0,
        };
        if request == Request::Add && amount == 0 {
            return Err(pgv(
                request,
                "Amount",
                "/amount",
                "value must be greater than 0",
            ));
        }
        let notifications = self
            .notifications
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, n)| n.into_spec(request, i))
            .collect::<Result<Vec<_>>>()?;
        Ok(QuotaSpec {
            unit,
            from: from.with_timezone(&Utc),
            reset_interval,
            amount,
            limit: self.limit.unwrap_or(false),
            notifications,
        })
    }
}

impl V1Notification {
    fn into_spec(self, request: Request, i: usize) -> Result<NotificationSpec> {
        let embedded = |field: &str, rule: &str, pointer: &str| {
            pgv(
                request,
                &format!("Notifications[{i}]"),
                pointer,
                &format!(
                    "embedded message failed validation | caused by: invalid Notification.{field}: {rule}"
                ),
            )
        };
        let pointer = format!("/notifications/{i}/percent");
        let percent = match &self.percent {
            Some(p) => p.value("uint32 field percent", &pointer)?,
            None => 0,
        };
        let percent = u32::try_from(percent).map_err(|_| {
            Error::invalid_body(
                &pointer,
                format!("proto: invalid value for uint32 field percent: {percent}"),
            )
        })?;
        if percent == 0 {
            return Err(embedded(
                "Percent",
                "value must be greater than 0",
                &pointer,
            ));
        }
        let call_url = self.call_url.unwrap_or_default();
        let chars = call_url.chars().count();
        if chars == 0 || chars > MAX_CALL_URL_CHARS {
            return Err(embedded(
                "CallUrl",
                "value length must be between 1 and 200 runes, inclusive",
                &format!("/notifications/{i}/callUrl"),
            ));
        }
        Ok(NotificationSpec {
            percent,
            call_url,
            repeat: self.repeat.unwrap_or(false),
        })
    }
}

/// A protobuf Duration in JSON: seconds with an optional fraction of up to 9 digits and an `s`
/// suffix. quotaplane's windows are whole seconds, so a non-zero fraction is refused.
pub fn duration(text: &str) -> Result<TimeDelta> {
    duration_of(text, "/resetInterval")
}

/// [`duration`] for the field at `pointer`.
pub fn duration_of(text: &str, pointer: &str) -> Result<TimeDelta> {
    let invalid = || {
        Error::invalid_body(
            pointer,
            format!("proto: invalid google.protobuf.Duration value {text:?}"),
        )
    };
    let number = text.strip_suffix('s').ok_or_else(invalid)?;
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f) || f.len() > 9) {
        return Err(invalid());
    }
    let seconds: i64 = whole.parse().map_err(|_| invalid())?;
    if seconds > MAX_DURATION_SECONDS {
        return Err(invalid());
    }
    if fraction.is_some_and(|f| f.bytes().any(|b| b != b'0')) {
        return Err(Error::invalid_body(
            pointer,
            "a duration must be a whole number of seconds",
        ));
    }
    let seconds = if negative { -seconds } else { seconds };
    TimeDelta::try_seconds(seconds).ok_or_else(invalid)
}

/// `zitadel.v1.ObjectDetails`: zero-valued fields are left out.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1ObjectDetails)]
pub struct V1ObjectDetails {
    /// The sequence of the change (a uint64, as a string).
    pub sequence: String,
    /// AddQuota and SetQuota: the date of the change.
    #[serde(rename = "creationDate", skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// RemoveQuota: the date of the removal.
    #[serde(rename = "changeDate", skip_serializing_if = "Option::is_none")]
    pub change_date: Option<String>,
    /// The instance.
    #[serde(rename = "resourceOwner", skip_serializing_if = "String::is_empty")]
    pub resource_owner: String,
}

/// A Timestamp in protojson: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl V1ObjectDetails {
    /// The details of an added or set quota.
    pub fn created(d: &Details) -> Self {
        Self {
            sequence: d.sequence.to_string(),
            creation_date: Some(timestamp(d.date)),
            change_date: None,
            resource_owner: d.resource_owner.to_string(),
        }
    }

    /// The details of a removed quota.
    pub fn changed(d: &Details) -> Self {
        Self {
            sequence: d.sequence.to_string(),
            creation_date: None,
            change_date: Some(timestamp(d.date)),
            resource_owner: d.resource_owner.to_string(),
        }
    }
}

/// The answer of AddQuota.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1AddQuotaResponse)]
pub struct V1AddQuotaResponse {
    pub details: V1ObjectDetails,
}

/// The answer of SetQuota.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1SetQuotaResponse)]
pub struct V1SetQuotaResponse {
    pub details: V1ObjectDetails,
}

/// The answer of RemoveQuota.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1RemoveQuotaResponse)]
pub struct V1RemoveQuotaResponse {
    pub details: V1ObjectDetails,
}

#[cfg(test)]
#[path = "dto_tests.rs"]
mod tests;
