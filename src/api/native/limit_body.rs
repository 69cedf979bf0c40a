//! A native limit on the wire, as `PUT /v1/limits/{id}` and seed files give it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::limit::{Amount, Limit, Mode, Subject, check_name, check_per};
use crate::domain::window::{Window, WindowSpec};
use crate::domain::{Error, Field};

/// A window on the wire: `{"kind": ..., "from"?, "interval_seconds"?}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WindowBody {
    /// `none`, `second`, `minute`, `hour`, `day`, `calendar_day`, `calendar_week`,
    /// `calendar_month` or `anchored`.
    pub kind: String,
    /// Anchored windows: the start of the first period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Anchored windows: the length of a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<i64>,
}

impl From<Window> for WindowBody {
    fn from(w: Window) -> Self {
        let spec = w.spec();
        Self {
            kind: spec.kind,
            from: spec.from,
            interval_seconds: spec.interval_seconds,
        }
    }
}

impl TryFrom<WindowBody> for Window {
    type Error = Error;

    fn try_from(body: WindowBody) -> Result<Self, Error> {
        let spec = WindowSpec {
            kind: body.kind,
            from: body.from,
            interval_seconds: body.interval_seconds,
        };
        Window::try_from(spec).map_err(|e| Error::Invalid {
            field: Field::Body(format!("/{}", e.field().replace('.', "/"))),
            message: e.to_string(),
        })
    }
}

/// An amount: a whole number of units, or `"unlimited"`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AmountBody {
    Units(i64),
    /// A whole number written with a fraction (`5.0`): JSON Schema's `integer` admits it.
    #[schema(value_type = i64)]
    Whole(f64),
    Word(String),
}

impl AmountBody {
    pub(crate) fn parse(self) -> Result<Amount, Error> {
        match self {
            AmountBody::Units(n) if n >= 0 => Ok(Amount::Limited(n)),
            // Exactly representable, so the conversion loses nothing.
            #[allow(clippy::cast_possible_truncation)]
            AmountBody::Whole(x) if x.fract() == 0.0 && (0.0..=9.0e15).contains(&x) => {
                Ok(Amount::Limited(x as i64))
            }
            AmountBody::Word(w) if w == "unlimited" => Ok(Amount::Unlimited),
            _ => Err(Error::invalid_body(
                "/amount",
                "must be a whole number of 0 or more, or \"unlimited\"",
            )),
        }
    }
}

impl From<Amount> for AmountBody {
    fn from(a: Amount) -> Self {
        match a {
            Amount::Limited(n) => AmountBody::Units(n),
            Amount::Unlimited => AmountBody::Word("unlimited".into()),
        }
    }
}

/// What defines a limit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LimitPut {
    /// The pairs a subject must have for the limit to apply (empty: every subject).
    #[serde(default)]
    pub subject: BTreeMap<String, String>,
    pub metric: String,
    pub amount: AmountBody,
    pub window: WindowBody,
    /// Whether the limit refuses what would pass it (default) or only counts.
    #[serde(default = "yes")]
    pub blocking: bool,
    /// Subject keys that split the limit: each distinct combination of their values gets its own
    /// counter and the whole amount ("each user 10 a minute"). Default: one shared counter.
    #[serde(default)]
    pub per: Vec<String>,
    /// Limits of one family replace each other: of those that match a subject, only the most
    /// specific (most selector pairs) apply, as "every user 100 a minute; user u7 500". Two
    /// limits of a family with different selectors of as many pairs that one subject could
    /// match are refused (409).
    #[serde(default)]
    pub family: Option<String>,
    /// When the limit stops applying (and what it replaced applies again). Default: never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `enforce` (default) or `shadow`: a shadow limit counts and reports what it would refuse
    /// (`would_refuse`) but never refuses.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "enforce")]
    pub mode: Option<String>,
}

impl LimitPut {
    /// The native limit `id` of `tenant_id` this body defines, checked field by field.
    pub(crate) fn into_limit(
        self,
        id: String,
        tenant_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Limit, Error> {
        check_name(&self.metric, "/metric")?;
        check_per(&self.per, "/per")?;
        if let Some(family) = &self.family {
            check_name(family, "/family")?;
        }
        let mode = match self.mode.as_deref() {
            None => Mode::Enforce,
            Some(name) => Mode::parse(name)
                .ok_or_else(|| Error::invalid_body("/mode", "must be enforce or shadow"))?,
        };
        Ok(Limit {
            id,
            tenant_id,
            selector: Subject::parse(self.subject, "/subject")?,
            metric: self.metric,
            amount: self.amount.parse()?,
            window: Window::try_from(self.window)?,
            blocking: self.blocking,
            owner: None,
            per: self.per,
            family: self.family,
            expires_at: self.expires_at,
            mode,
            created_at: now,
            updated_at: now,
        })
    }
}

fn yes() -> bool {
    true
}
