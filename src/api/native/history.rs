//! `GET /v1/limits/{id}/history`: the final usage of a limit's ended periods.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Problem;
use super::paging::{self, PageParams};
use crate::domain::history::{self, Period};
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The time range of a history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Periods that started at or after this instant (RFC 3339; default 30 days before `to`).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// Periods that started before this instant (RFC 3339; default now).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
}

/// One ended period of a limit, per `per` partition.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPeriod {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The usage when the period ended.
    pub used: i64,
    /// The limit's amount in that period; null when unlimited, or unknown because the limit
    /// was changed since the period started.
    pub limit: Option<i64>,
    /// The values of the limit's `per` keys for this partition (null where a subject lacked a
    /// key); null for the shared counter.
    pub partition: Option<Vec<Option<String>>>,
}

impl From<Period> for HistoryPeriod {
    fn from(p: Period) -> Self {
        Self {
            period_start: p.period_start,
            period_end: p.period_end,
            used: p.used,
            limit: p.limit,
            partition: p.partition,
        }
    }
}

/// A limit's ended periods with their final usage, oldest first, a page at a time (the next
/// page's URL is in `Link`). Kept 90 days for windows of a day or longer and 7 days for
/// shorter ones (by default); 404 for a limit the caller may not see.
#[utoipa::path(get, path = "/v1/limits/{id}/history", tag = "limits",
    params(("id" = String, Path), HistoryParams, PageParams),
    responses((status = 200, body = [HistoryPeriod],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn limit_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(range): Query<HistoryParams>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let request = params.request()?;
    let now = state.clock.now();
    let range = history::range(range.from.as_deref(), range.to.as_deref(), now)?;
    let page = history::history(&state.store, &caller, &id, range, now, &request).await?;
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page.map(HistoryPeriod::from),
    ))
}
