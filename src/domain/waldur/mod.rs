//! Waldur chat token quotas: each user's daily, weekly and monthly token limits, as Waldur's
//! `TokenQuota` defines them, enforced by the usage engine.
//!
//! A user's own limits are kept as Waldur keeps them (a number, -1 for unlimited, or none: the
//! system default). What the engine enforces, on metric [`METRIC`] over calendar day, week and
//! month, is one family per period (see [`crate::domain::precedence`]):
//! - the tenant's *default* limit of the period: selector `{}`, split `per` user, at the system
//!   default, so every user gets the default for themselves with no row of their own;
//! - a user's *own* limit, where `set_quota` gave them one: selector `{"user": <uuid>}`, owned by
//!   `waldur:<uuid>`, which replaces the default for them.
//!
//! Nothing is written on a read or a usage request. Moving a user between the default and their
//! own limit carries their count of the current period with them, in the `set_quota`
//! transaction. A changed system default is the three default rows of each tenant, rewritten at
//! start-up when they differ. See docs/waldur.md.

mod service;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::limit::{Amount, Limit, Subject};
use super::window::Window;
use super::{Error, Result};

pub use service::{ChatQuotas, require_staff_or_support};

/// The metric chat tokens are counted on (`POST /v1/usage/consume`).
pub const METRIC: &str = "chat_tokens";
/// The subject key naming the user.
pub const USER_KEY: &str = "user";
/// The smallest limit: -1, unlimited.
pub const MIN_LIMIT: i64 = -1;
/// The largest limit Waldur stores (a 32-bit integer column).
pub const MAX_LIMIT: i64 = 2_147_483_647;

/// Waldur's answer to a regular user asking for someone else's usage.
pub const NOT_YOUR_USAGE: &str = "You can only view your own usage.";
/// Waldur's (DRF's) answer to a regular user calling a staff action.
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";
/// What [`Error::NotFound`] names for an unknown user.
pub const USER: &str = "user";

/// The three periods of a token quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    /// The periods in Waldur's order.
    pub const ALL: [Period; 3] = [Period::Daily, Period::Weekly, Period::Monthly];

    /// `daily`, `weekly` or `monthly`: the prefix of the period's fields.
    pub fn name(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// The period's request field, such as `daily_limit`.
    pub fn limit_field(self) -> &'static str {
        match self {
            Period::Daily => "daily_limit",
            Period::Weekly => "weekly_limit",
            Period::Monthly => "monthly_limit",
        }
    }

    /// The engine window: UTC midnight, Monday 00:00 UTC, the 1st of the month 00:00 UTC.
    pub fn window(self) -> Window {
        match self {
            Period::Daily => Window::CalendarDay,
            Period::Weekly => Window::CalendarWeek,
            Period::Monthly => Window::CalendarMonth,
        }
    }
}

/// One value per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerPeriod<T> {
    pub daily: T,
    pub weekly: T,
    pub monthly: T,
}

impl<T> PerPeriod<T> {
    /// Builds each period's value with `f`.
    pub fn from_fn(mut f: impl FnMut(Period) -> T) -> Self {
        PerPeriod {
            daily: f(Period::Daily),
            weekly: f(Period::Weekly),
            monthly: f(Period::Monthly),
        }
    }

    /// The value of `period`.
    pub fn get(&self, period: Period) -> &T {
        match period {
            Period::Daily => &self.daily,
            Period::Weekly => &self.weekly,
            Period::Monthly => &self.monthly,
        }
    }
}

/// A user's own limits: a number, -1 (unlimited), or `None` (the system default).
pub type OwnLimits = PerPeriod<Option<i64>>;

/// What `set_quota` changes: per period, `None` leaves the limit as it is, `Some(None)` puts it
/// back to the system default, `Some(Some(n))` sets it.
pub type LimitChanges = PerPeriod<Option<Option<i64>>>;

/// The system defaults (Waldur's constance `AI_ASSISTANT_TOKEN_LIMIT_*`), -1 unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemDefaults(pub PerPeriod<i64>);

impl Default for SystemDefaults {
    fn default() -> Self {
        SystemDefaults(PerPeriod::from_fn(|_| -1))
    }
}

impl SystemDefaults {
    /// The limit that applies in `period` for a user whose own limit is `own`.
    pub fn effective(&self, own: &OwnLimits, period: Period) -> i64 {
        own.get(period).unwrap_or(*self.0.get(period))
    }
}

/// A `set_quota` request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaChange {
    pub user: Uuid,
    pub limits: LimitChanges,
}

/// Checks a limit as given by a client: -1 or more, at most [`MAX_LIMIT`]. The messages are
/// Django REST framework's, as Waldur answers them.
pub fn check_limit(field: &str, value: i64) -> Result<i64> {
    if value < MIN_LIMIT {
        return Err(Error::invalid_body(
            format!("/{field}"),
            format!("Ensure this value is greater than or equal to {MIN_LIMIT}."),
        ));
    }
    if value > MAX_LIMIT {
        return Err(Error::invalid_body(
            format!("/{field}"),
            format!("Ensure this value is less than or equal to {MAX_LIMIT}."),
        ));
    }
    Ok(value)
}

/// Reads a user's UUID as Waldur accepts it: 32 hex digits, with or without hyphens.
pub fn parse_user(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw.trim()).ok()
}

/// Where one period of a user's quota stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodUsage {
    /// The user's own limit (`None`: the system default applies).
    pub limit: Option<i64>,
    /// Tokens counted in the current period.
    pub usage: i64,
    /// `None` when the effective limit is unlimited, else `max(0, limit - usage)`.
    pub remaining: Option<i64>,
    /// When the current period ends.
    pub reset_at: DateTime<Utc>,
    pub system_default: i64,
}

impl PeriodUsage {
    /// The period's figures from the user's own limit, the default and the counter.
    pub fn new(own: Option<i64>, system_default: i64, usage: i64, reset_at: DateTime<Utc>) -> Self {
        let effective = own.unwrap_or(system_default);
        PeriodUsage {
            limit: own,
            usage,
            remaining: (effective >= 0).then(|| (effective - usage).max(0)),
            reset_at,
            system_default,
        }
    }
}

/// A user's quota and usage in every period.
pub type TokenQuotaUsage = PerPeriod<PeriodUsage>;

/// The engine limit of `user`'s `period` in `tenant_id`.
pub fn limit_id(user: Uuid, period: Period) -> String {
    format!("waldur-chat-{}-{}", period.name(), user.hyphenated())
}

/// The owner of a user's engine limits.
pub fn owner(user: Uuid) -> String {
    format!("waldur:{}", user.hyphenated())
}

/// The subject a user's usage is counted for: `{"user": "<hyphenated uuid>"}`.
pub fn subject(user: Uuid) -> Subject {
    Subject::of([(USER_KEY, user.hyphenated().to_string().as_str())])
}

/// The family of every limit of `period`: a user's own replaces the default.
pub fn family(period: Period) -> String {
    format!("waldur-chat-{}", period.name())
}

/// The owner of a tenant's default limits.
pub const DEFAULTS_OWNER: &str = "waldur:system-defaults";

/// The id of a tenant's default limit of `period` (no user id can spell `default`).
pub fn default_limit_id(period: Period) -> String {
    format!("waldur-chat-{}-default", period.name())
}

/// The engine limit that enforces `user`'s own limit of `period`.
pub fn engine_limit(
    tenant_id: Uuid,
    user: Uuid,
    period: Period,
    amount: i64,
    now: DateTime<Utc>,
) -> Limit {
    Limit {
        id: limit_id(user, period),
        selector: subject(user),
        owner: Some(owner(user)),
        per: Vec::new(),
        ..default_limit(tenant_id, period, amount, now)
    }
}

/// The tenant's default limit of `period`: every user without their own gets `amount`
/// (the system default) for themselves.
pub fn default_limit(tenant_id: Uuid, period: Period, amount: i64, now: DateTime<Utc>) -> Limit {
    Limit {
        id: default_limit_id(period),
        tenant_id,
        selector: Subject::default(),
        metric: METRIC.to_owned(),
        amount: Amount::from_stored(amount),
        window: period.window(),
        blocking: true,
        owner: Some(DEFAULTS_OWNER.to_owned()),
        per: vec![USER_KEY.to_owned()],
        family: Some(family(period)),
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        created_at: now,
        updated_at: now,
    }
}

/// `subject` with its user in the form limits select on and count per (hyphenated, lower
/// case), when it names one by UUID in any form Waldur accepts.
pub fn canonical_subject(metric: &str, subject: Subject) -> Subject {
    if metric != METRIC {
        return subject;
    }
    let Some(user) = subject.get(USER_KEY).and_then(parse_user) else {
        return subject;
    };
    let canonical = user.hyphenated().to_string();
    if subject.get(USER_KEY) == Some(canonical.as_str()) {
        return subject;
    }
    let mut pairs = subject.as_map().clone();
    pairs.insert(USER_KEY.to_owned(), canonical);
    Subject::trusted(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn remaining_is_null_only_when_the_effective_limit_is_unlimited() {
        let reset = at("2026-03-12T00:00:00Z");
        assert_eq!(PeriodUsage::new(None, -1, 5, reset).remaining, None);
        assert_eq!(PeriodUsage::new(Some(-1), 100, 5, reset).remaining, None);
        assert_eq!(PeriodUsage::new(None, 100, 5, reset).remaining, Some(95));
        assert_eq!(PeriodUsage::new(Some(3), -1, 5, reset).remaining, Some(0));
        assert_eq!(PeriodUsage::new(Some(0), -1, 0, reset).remaining, Some(0));
    }

    #[test]
    fn limits_below_minus_one_or_above_32_bits_are_refused_with_drf_messages() {
        assert_eq!(check_limit("daily_limit", -1).ok(), Some(-1));
        assert_eq!(check_limit("daily_limit", MAX_LIMIT).ok(), Some(MAX_LIMIT));
        let low = check_limit("weekly_limit", -2).expect_err("below -1");
        assert!(
            matches!(&low, Error::Invalid { field: super::super::Field::Body(p), message }
                if p == "/weekly_limit" && message == "Ensure this value is greater than or equal to -1."),
            "{low:?}"
        );
        assert!(check_limit("daily_limit", MAX_LIMIT + 1).is_err());
    }

    #[test]
    fn user_uuids_are_read_with_or_without_hyphens() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(parse_user("0123456789abcdef0123456789abcdef"), Some(id));
        assert_eq!(parse_user("01234567-89ab-cdef-0123-456789ABCDEF"), Some(id));
        assert_eq!(parse_user("nope"), None);
    }

    #[test]
    fn the_effective_limit_is_the_users_own_else_the_default() {
        let defaults = SystemDefaults(PerPeriod {
            daily: 10,
            weekly: -1,
            monthly: 1000,
        });
        let own = OwnLimits {
            daily: None,
            weekly: Some(50),
            monthly: Some(-1),
        };
        assert_eq!(defaults.effective(&own, Period::Daily), 10);
        assert_eq!(defaults.effective(&own, Period::Weekly), 50);
        assert_eq!(defaults.effective(&own, Period::Monthly), -1);
    }
}
