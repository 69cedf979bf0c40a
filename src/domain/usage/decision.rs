//! What the engine answers: where each limit stands, the decision, and the usage it was asked
//! about.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MAX_AMOUNT;
use super::explain::Explained;
use crate::domain::limit::{Limit, Subject, check_name};
use crate::domain::window::Window;
use crate::domain::{Error, Result};

/// Where one limit stands for a subject, after the operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitStatus {
    /// The limit's id.
    pub quota_id: String,
    pub metric: String,
    /// The ceiling; `None` when unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// What is left; `None` when unlimited.
    pub remaining: Option<i64>,
    /// When the period resets; `None` for windows that never do.
    pub reset_at: Option<DateTime<Utc>>,
    pub window: Window,
}

/// A lease granted by an admitted acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Admitted: every limit that applies. Refused: the limits that refused.
    pub limits: Vec<LimitStatus>,
    /// Refused: seconds until a retry could succeed, when waiting can help.
    pub retry_after: Option<u64>,
    /// An admitted acquire's lease.
    pub lease: Option<LeaseGrant>,
    /// The shadow limits that would have refused (they never do): their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_refuse: Vec<String>,
    /// Asked for: every limit that matched and how it stood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<Explained>>,
    /// Whether this is the stored answer to an earlier request with the same idempotency key.
    #[serde(skip)]
    pub replayed: bool,
}

impl Decision {
    pub(super) fn admitted(limits: Vec<LimitStatus>) -> Self {
        Self {
            allowed: true,
            limits,
            retry_after: None,
            lease: None,
            would_refuse: Vec::new(),
            explain: None,
            replayed: false,
        }
    }
}

/// What a usage request names: who, what, how much.
#[derive(Debug, Clone)]
pub struct Usage {
    pub subject: Subject,
    pub metric: String,
    /// Units to check, consume or hold; for a report, the gauge's new level.
    pub amount: i64,
}

impl Usage {
    /// Checks the metric and amount (the subject is checked when parsed), and puts the subject
    /// in the form its surface's limits select on (a Waldur user's UUID, hyphenated).
    pub fn new(subject: Subject, metric: String, amount: i64, amount_field: &str) -> Result<Self> {
        check_name(&metric, "/metric")?;
        if !(0..=MAX_AMOUNT).contains(&amount) {
            return Err(Error::invalid_body(
                format!("/{amount_field}"),
                format!("must be between 0 and {MAX_AMOUNT}"),
            ));
        }
        Ok(Self {
            subject: crate::domain::waldur::canonical_subject(&metric, subject),
            metric,
            amount,
        })
    }
}

/// Where `limit` stands with `used` units in the period of `now`.
pub fn status_of(limit: &Limit, used: i64, now: DateTime<Utc>) -> LimitStatus {
    status(
        &limit.id,
        &limit.metric,
        limit.amount,
        limit.window,
        used,
        now,
    )
}

impl super::CachedLimit {
    /// Where the limit stands with `used` units in the period of `now` (as [`status_of`]).
    pub fn status(&self, used: i64, now: DateTime<Utc>) -> LimitStatus {
        status(
            &self.id,
            &self.shape.metric,
            self.amount,
            self.shape.window,
            used,
            now,
        )
    }
}

fn status(
    id: &str,
    metric: &str,
    amount: crate::domain::limit::Amount,
    window: Window,
    used: i64,
    now: DateTime<Utc>,
) -> LimitStatus {
    let ceiling = match amount {
        crate::domain::limit::Amount::Limited(n) => Some(n),
        crate::domain::limit::Amount::Unlimited => None,
    };
    LimitStatus {
        quota_id: id.to_owned(),
        metric: metric.to_owned(),
        limit: ceiling,
        used,
        remaining: ceiling.map(|n| (n - used).max(0)),
        reset_at: window.next_reset(now),
        window,
    }
}
