//! The two endpoints: `GET usage/` and `POST set_quota/`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::dto::{
    SetTokenQuotaRequest, TokenQuotaUsageResponse, UsageParams, WaldurErrorDetail, parse_set_quota,
};
use crate::domain::audit::Actor;
use crate::domain::principal::Caller;
use crate::domain::waldur::require_staff_or_support;
use crate::http::error::{ApiError, Failure};
use crate::http::json::Query;
use crate::state::AppState;

use super::error::invalid_fields;
use super::metadata::{self, ViewMetadata};

/// A user's token quota and usage for the day, week and month (UTC). Without `user_uuid`, the
/// caller's own; another user's needs the `staff` or `support` role.
#[utoipa::path(get, path = "/api/chat-quota/usage/", tag = "chat-quota",
    operation_id = "chat_quota_usage_retrieve", params(UsageParams),
    security(("tokenAuth" = [])),
    responses((status = 200, body = TokenQuotaUsageResponse),
        (status = 401, body = WaldurErrorDetail), (status = 403, body = WaldurErrorDetail),
        (status = 404, body = WaldurErrorDetail)))]
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UsageParams>,
) -> Result<axum::Json<TokenQuotaUsageResponse>, ApiError> {
    let usage = state
        .chat_quotas
        .usage(&state.engine, &caller, params.user_uuid.as_deref())
        .await?;
    Ok(axum::Json(usage.into()))
}

/// Sets a user's daily, weekly and monthly token limits (`staff` or `support` only). Only the
/// limits present change: `null` puts one back to the system default, -1 makes it unlimited.
/// The body is JSON, a form or `multipart/form-data`; every invalid field is listed in one 400.
/// 200 with no body.
#[utoipa::path(post, path = "/api/chat-quota/set_quota/", tag = "chat-quota",
    operation_id = "chat_quota_set_quota",
    request_body(content(
        (SetTokenQuotaRequest = "application/json"),
        (SetTokenQuotaRequest = "application/x-www-form-urlencoded"),
        (SetTokenQuotaRequest = "multipart/form-data"))),
    security(("tokenAuth" = [])),
    responses((status = 200, description = "No response body"),
        (status = 400, description = "`{\"<field>\": [\"<message>\"]}`"),
        (status = 401, body = WaldurErrorDetail), (status = 403, body = WaldurErrorDetail),
        (status = 404, body = WaldurErrorDetail)))]
pub async fn set_quota(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    // As in Waldur, permission is checked before the body is read.
    require_staff_or_support(&caller)?;
    let body = super::body::read(request).await?;
    let change = match parse_set_quota(&body) {
        Ok(change) => change,
        Err(errors) => return Ok(invalid_fields(errors)),
    };
    state
        .chat_quotas
        .set_quota(&state.engine, &caller, &Actor::of(&caller), change)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `OPTIONS usage/`: the view's metadata, as DRF answers it.
pub async fn usage_options(_: Caller) -> axum::Json<ViewMetadata> {
    axum::Json(metadata::usage())
}

/// `OPTIONS set_quota/`: the view's metadata, with the fields a `POST` takes when the caller
/// may set quotas.
pub async fn set_quota_options(caller: Caller) -> axum::Json<ViewMetadata> {
    axum::Json(metadata::set_quota(
        require_staff_or_support(&caller).is_ok(),
    ))
}

/// Methods Waldur does not allow on a route (HEAD).
pub async fn not_allowed() -> ApiError {
    ApiError(Failure::MethodNotAllowed)
}
