//! Precedence on the wire: `?explain=true` on check and consume, and
//! `GET /v1/limits/effective`, which limits apply to a subject and which are replaced.

use std::collections::BTreeMap;

use axum::extract::{Query, RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::usage::LimitUsage;
use crate::domain::authority::{self, UsageAct};
use crate::domain::limit::{MAX_PAIRS, Subject};
use crate::domain::precedence::Standing;
use crate::domain::principal::Caller;
use crate::domain::usage::{Effective, Explained, Part, Usage};
use crate::domain::{Error, Field};
use crate::http::error::ApiError;
use crate::state::AppState;

/// `?explain=`: whether the decision lists every matching limit and its part in it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainParams {
    /// `true` to list each limit that matched: `applied`, `binding`, `would_refuse` or
    /// `replaced` (with `replaced_by`).
    #[param(value_type = Option<bool>)]
    pub explain: Option<String>,
}

impl ExplainParams {
    /// Whether an explanation was asked for; anything but `true`/`false` is a 400.
    pub fn wanted(&self) -> Result<bool, ApiError> {
        match self.explain.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(Error::Invalid {
                field: Field::Query("explain".into()),
                message: "must be true or false".into(),
            }
            .into()),
        }
    }
}

/// One matching limit in an explained decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedLimit {
    pub quota_id: String,
    /// `applied`, `binding` (it refused, or has the least room left), `would_refuse` (a
    /// shadow limit that would have refused) or `replaced`.
    #[schema(value_type = String)]
    pub part: Part,
    /// Replaced: a limit of its family that applied instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub shadow: bool,
}

impl From<Explained> for ExplainedLimit {
    fn from(e: Explained) -> Self {
        Self {
            quota_id: e.quota_id,
            part: e.part,
            replaced_by: e.replaced_by,
            family: e.family,
            shadow: e.shadow,
        }
    }
}

/// A limit that matches the subject, and how it stands for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveLimit {
    pub quota_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `applies`, or `replaced` by the more specific limit `replaced_by`.
    pub standing: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// `enforce` or `shadow`.
    pub mode: &'static str,
    pub blocking: bool,
    /// The subject's usage in the current period (its own counter for a `per` limit).
    pub usage: LimitUsage,
}

impl From<Effective> for EffectiveLimit {
    fn from(e: Effective) -> Self {
        let (standing, replaced_by) = match e.standing {
            Standing::Applies => ("applies", None),
            Standing::ReplacedBy(by) => ("replaced", Some(by)),
        };
        Self {
            quota_id: e.limit.id.to_string(),
            family: e.limit.shape.family.as_deref().map(str::to_owned),
            standing,
            replaced_by,
            mode: e.limit.shape.mode.as_str(),
            blocking: e.limit.shape.blocking,
            usage: e.status.into(),
        }
    }
}

/// The metric and subject of `GET /v1/limits/effective`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EffectiveParams {
    /// The metric.
    #[param(min_length = 1, max_length = 200)]
    pub metric: String,
    /// The subject, one parameter per pair: `subject.user=u7&subject.team=t1`.
    #[serde(rename = "subject.{key}", default)]
    #[param(value_type = Option<String>, rename = "subject.{key}")]
    pub subject: Option<String>,
}

/// The subject and metric a query names; unknown parameters are a 400.
fn parse_query(query: Option<&str>) -> Result<(Subject, String), Error> {
    let mut metric = None;
    let mut pairs = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "metric" {
            metric = Some(value.into_owned());
        } else if let Some(key) = name.strip_prefix("subject.") {
            if pairs.len() >= MAX_PAIRS && !pairs.contains_key(key) {
                return Err(Error::Invalid {
                    field: Field::Query(name.into_owned()),
                    message: format!("at most {MAX_PAIRS} subject pairs are allowed"),
                });
            }
            pairs.insert(key.to_owned(), value.into_owned());
        } else {
            return Err(Error::Invalid {
                field: Field::Query(name.into_owned()),
                message: "unknown parameter: use metric and subject.<key>".into(),
            });
        }
    }
    let metric = metric.ok_or_else(|| Error::Invalid {
        field: Field::Query("metric".into()),
        message: "is required".into(),
    })?;
    let subject = Subject::parse(pairs, "/subject").map_err(|e| in_query(e, "subject"))?;
    Ok((subject, metric))
}

/// A body field's error as the query parameter `name`'s.
fn in_query(e: Error, name: &str) -> Error {
    match e {
        Error::Invalid { message, .. } => Error::invalid_query(name, message),
        other => other,
    }
}

/// Which limits apply to a subject and metric now, which are replaced and by which, each with
/// the subject's usage. Lists only the limits the caller may see.
#[utoipa::path(get, path = "/v1/limits/effective", tag = "limits", params(EffectiveParams),
    responses((status = 200, body = [EffectiveLimit]),
        (status = 400, body = super::Problem), (status = 403, body = super::Problem)))]
pub async fn effective(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<Vec<EffectiveLimit>>, ApiError> {
    let (subject, metric) = parse_query(query.as_deref())?;
    let usage = Usage::new(subject, metric, 0, "amount").map_err(|e| in_query(e, "metric"))?;
    authority::authorize(&state.engine, &caller, UsageAct::Check, &usage).await?;
    let found = state
        .engine
        .effective(caller.tenant_id, &usage.subject, &usage.metric)
        .await?;
    Ok(axum::Json(
        found
            .into_iter()
            .filter(|e| authority::may_see_cached(&caller, &e.limit))
            .map(Into::into)
            .collect(),
    ))
}

/// `?explain=` of check and consume.
pub type Explain = Query<ExplainParams>;
