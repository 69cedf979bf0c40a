//! `/v1/quota-templates`: writing DataRobot quota templates, which DataRobot's own API only
//! reads. Admin keys manage their tenant's templates; a system key's templates are seen by
//! every tenant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Problem;
use crate::domain::audit::Actor;
use crate::domain::datarobot::service;
use crate::domain::datarobot::{Rule, Template};
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;

/// A template's name and rules.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuotaTemplatePut {
    /// 1 to 200 characters.
    pub name: String,
    /// At most 100 rules, as in DataRobot (`{"rule", "limit", "window"}`).
    #[schema(value_type = Vec<crate::domain::datarobot::Rule>)]
    pub rules: Vec<Rule>,
}

/// A quota template as the native API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaTemplate {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<crate::domain::datarobot::Rule>)]
    pub rules: Vec<Rule>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Template> for QuotaTemplate {
    fn from(t: Template) -> Self {
        Self {
            id: t.id,
            name: t.name,
            rules: t.rules,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Creates a quota template in the caller's tenant.
#[utoipa::path(post, path = "/v1/quota-templates", tag = "datarobot",
    request_body = QuotaTemplatePut,
    responses((status = 201, body = QuotaTemplate), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<QuotaTemplatePut>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let template = service::create_template(
        &state.store,
        &caller,
        &Actor::of(&caller),
        body.name,
        body.rules,
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(QuotaTemplate::from(template)),
    ))
}

/// Replaces a template's name and rules; quotas made from it keep the rules they copied.
#[utoipa::path(put, path = "/v1/quota-templates/{id}", tag = "datarobot",
    params(("id" = String, Path)), request_body = QuotaTemplatePut,
    responses((status = 200, body = QuotaTemplate), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn replace_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<QuotaTemplatePut>,
) -> Result<axum::Json<QuotaTemplate>, ApiError> {
    let now = state.clock.now();
    let template = service::replace_template(
        &state.store,
        &caller,
        &Actor::of(&caller),
        &id,
        body.name,
        body.rules,
        now,
    )
    .await?;
    Ok(axum::Json(template.into()))
}

/// Deletes a template.
#[utoipa::path(delete, path = "/v1/quota-templates/{id}", tag = "datarobot",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = Actor::of(&caller);
    service::delete_template(&state.store, &caller, &actor, &id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
