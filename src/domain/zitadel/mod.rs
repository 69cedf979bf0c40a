//! ZITADEL instance quotas (`AddQuota`, `SetQuota`, `RemoveQuota` of the system API): a quota is
//! one engine limit per (instance, unit), where an instance is a tenant. Its notifications are the
//! limit's notification rules; its `from` and `resetInterval` an anchored window.
//!
//! The rules here are ZITADEL's command rules (`internal/command/quota.go`); the wire format and
//! the proto-level validation live in `crate::api::zitadel`.//!
//! Here: the units, a quota's specification and its validation; the commands that write quotas
//! are in [`quotas`].

mod quotas;
#[cfg(test)]
mod tests;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::usage::MAX_AMOUNT;
use super::{Error, Result};

pub use quotas::{add_quota, instance, remove_quota, set_quota};

/// The metric of `UNIT_REQUESTS_ALL_AUTHENTICATED`: a tenant's authenticated requests, counted
/// by the metering layer.
pub const REQUESTS_METRIC: &str = "requests.all.authenticated";
/// The metric of `UNIT_ACTIONS_ALL_RUN_SECONDS`: reported by the tenant through the usage engine.
pub const ACTION_SECONDS_METRIC: &str = "actions.all.runs.seconds";

/// Domain messages the ZITADEL envelope translates to ZITADEL's ids and texts.
pub mod messages {
    pub const RESET_INTERVAL_TOO_SHORT: &str = "the reset interval is shorter than a minute";
    pub const CALL_URL_UNPARSABLE: &str = "the call URL cannot be parsed";
    pub const CALL_URL_NOT_ABSOLUTE: &str = "the call URL is not absolute or has no host";
    pub const PERCENT_TOO_LOW: &str = "the percent is lower than 1";
    pub const DUPLICATE_NOTIFICATION: &str = "the notification is given twice";
    pub const AMOUNT_TOO_LARGE: &str = "the amount is larger than quotaplane supports";
}

/// Shortest reset interval ZITADEL accepts.
pub const MIN_RESET_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// What a quota is imposed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    RequestsAllAuthenticated,
    ActionsAllRunSeconds,
}

impl Unit {
    /// Both units.
    pub const ALL: [Unit; 2] = [Unit::RequestsAllAuthenticated, Unit::ActionsAllRunSeconds];

    /// The enum number (also the `unit` of a notification's payload).
    pub fn number(self) -> i32 {
        match self {
            Unit::RequestsAllAuthenticated => 1,
            Unit::ActionsAllRunSeconds => 2,
        }
    }

    /// The enum name.
    pub fn name(self) -> &'static str {
        match self {
            Unit::RequestsAllAuthenticated => "UNIT_REQUESTS_ALL_AUTHENTICATED",
            Unit::ActionsAllRunSeconds => "UNIT_ACTIONS_ALL_RUN_SECONDS",
        }
    }

    /// The unit with this enum number.
    pub fn from_number(n: i64) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| i64::from(u.number()) == n)
    }

    /// The unit with this enum name.
    pub fn from_name(name: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.name() == name)
    }

    /// The engine metric the unit counts.
    pub fn metric(self) -> &'static str {
        match self {
            Unit::RequestsAllAuthenticated => REQUESTS_METRIC,
            Unit::ActionsAllRunSeconds => ACTION_SECONDS_METRIC,
        }
    }

    /// The unit counting `metric`, if any (for a notification's payload).
    pub fn of_metric(metric: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.metric() == metric)
    }

    /// The id of the engine limit behind the quota, which is also its owner.
    pub fn limit_id(self) -> String {
        format!("zitadel:{}", self.name())
    }
}

/// One notification as asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotificationSpec {
    pub percent: u32,
    pub call_url: String,
    pub repeat: bool,
}

/// A quota as asked for by AddQuota or SetQuota (already through proto-level validation).
#[derive(Debug, Clone)]
pub struct QuotaSpec {
    pub unit: Unit,
    pub from: DateTime<Utc>,
    pub reset_interval: TimeDelta,
    pub amount: u64,
    pub limit: bool,
    pub notifications: Vec<NotificationSpec>,
}

/// What quotaplane keeps of a quota besides its limit: ZITADEL's object details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRecord {
    pub tenant_id: Uuid,
    pub unit: Unit,
    /// The instance's sequence at the last change (monotonic per instance).
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// The date of the last change.
    pub updated_at: DateTime<Utc>,
}

/// ZITADEL's `ObjectDetails` of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub sequence: i64,
    /// The event's date: `creationDate` for Add and Set, `changeDate` for Remove.
    pub date: DateTime<Utc>,
    pub resource_owner: Uuid,
}

/// The command-level rules of a quota (ZITADEL's `validate`), in ZITADEL's order.
pub fn validate(spec: &QuotaSpec) -> Result<()> {
    if spec.reset_interval < MIN_RESET_INTERVAL {
        return Err(Error::invalid_body(
            "/resetInterval",
            messages::RESET_INTERVAL_TOO_SHORT,
        ));
    }
    if i64::try_from(spec.amount).map_or(true, |a| a > MAX_AMOUNT) {
        return Err(Error::invalid_body("/amount", messages::AMOUNT_TOO_LARGE));
    }
    for (i, n) in spec.notifications.iter().enumerate() {
        check_call_url(&n.call_url, i)?;
        if n.percent < 1 {
            return Err(Error::invalid_body(
                format!("/notifications/{i}/percent"),
                messages::PERCENT_TOO_LOW,
            ));
        }
    }
    for (i, n) in spec.notifications.iter().enumerate() {
        if spec.notifications[..i].contains(n) {
            return Err(Error::invalid_body(
                format!("/notifications/{i}"),
                messages::DUPLICATE_NOTIFICATION,
            ));
        }
    }
    Ok(())
}

fn check_call_url(call_url: &str, i: usize) -> Result<()> {
    let pointer = format!("/notifications/{i}/callUrl");
    match url::Url::parse(call_url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Err(Error::invalid_body(
            pointer,
            messages::CALL_URL_NOT_ABSOLUTE,
        )),
        Err(_) => Err(Error::invalid_body(pointer, messages::CALL_URL_UNPARSABLE)),
    }
}
