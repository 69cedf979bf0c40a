//! Native calls around applied quotas (problem+json errors, under `/v1`): adjusting an applied
//! limit (what Confluent does through its support), reading the audit of adjustments, and the
//! catalogue of quota codes, which operators extend with codes for other services.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::super::links::Links;
use super::dto::{
    AppliedQuota, AppliedQuotaAdjust, AppliedQuotaAdjustment, ServiceQuotaCode,
    ServiceQuotaCodeDefine,
};
use super::service;
use crate::api::native::Problem;
use crate::domain::Error;
use crate::domain::principal::Caller;
use crate::domain::service_quota::{Adjustment, CodeDefinition, Scope};
use crate::http::error::ApiError;
use crate::http::json::{Json, Query};
use crate::state::AppState;

const TAG: &str = "service quotas";

fn scope(value: &str) -> Result<Scope, Error> {
    Scope::parse(value).ok_or_else(|| Error::invalid_body("/scope", "is not a known scope"))
}

/// Sets the applied limit of a code at one scope reference of a tenant (system keys, or the
/// tenant's admins); recorded with the key and time. Answers the applied quota as it now is.
#[utoipa::path(put, path = "/v1/applied-quotas/{code}", tag = TAG,
    params(("code" = String, Path, description = "The quota code.")),
    request_body = AppliedQuotaAdjust,
    responses((status = 200, body = AppliedQuota), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn adjust_applied_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(code): Path<String>,
    Json(body): Json<AppliedQuotaAdjust>,
) -> Result<axum::Json<AppliedQuota>, ApiError> {
    let change = Adjustment {
        organization: body.organization,
        scope: scope(&body.scope)?,
        references: body.references(),
        applied_limit: body.applied_limit,
    };
    let applied = service(&state)
        .adjust(&caller, &code, change, state.clock.now())
        .await?;
    let links = Links::of_request(
        &state.settings,
        &headers,
        change_tenant(&caller, body.organization),
    );
    Ok(axum::Json(AppliedQuota::of(&applied, &links)))
}

fn change_tenant(caller: &Caller, organization: Option<Uuid>) -> Uuid {
    organization.unwrap_or(caller.tenant_id)
}

/// Which tenant's audit to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The tenant (system keys); the caller's own by default.
    pub organization: Option<Uuid>,
}

/// The recorded adjustments of a code's applied limits in a tenant, oldest first.
#[utoipa::path(get, path = "/v1/applied-quotas/{code}/adjustments", tag = TAG,
    params(("code" = String, Path, description = "The quota code."), AuditParams),
    responses((status = 200, body = [AppliedQuotaAdjustment]), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn applied_quota_adjustments(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(params): Query<AuditParams>,
) -> Result<axum::Json<Vec<AppliedQuotaAdjustment>>, ApiError> {
    let records = service(&state)
        .adjustments(&caller, params.organization, &code)
        .await?;
    Ok(axum::Json(records.into_iter().map(Into::into).collect()))
}

/// Defines or redefines a quota code for another service (system keys): 201 when new, 200 when
/// replaced. quotaplane's own codes cannot be redefined (409).
#[utoipa::path(put, path = "/v1/service-quota-codes/{code}", tag = TAG,
    params(("code" = String, Path, description = "The quota code: 1 to 100 of a-z, 0-9, '.', '_', '-'.")),
    request_body = ServiceQuotaCodeDefine,
    responses((status = 200, body = ServiceQuotaCode), (status = 201, body = ServiceQuotaCode),
        (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn define_service_quota_code(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Json(body): Json<ServiceQuotaCodeDefine>,
) -> Result<impl IntoResponse, ApiError> {
    let definition = CodeDefinition {
        scope: scope(&body.scope)?,
        display_name: body.display_name,
        default_limit: body.default_limit,
    };
    let (code, created) = service(&state)
        .define(&caller, &code, definition, state.clock.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(ServiceQuotaCode::from(&code))))
}

/// The catalogue: quotaplane's own codes and the operator's, ordered by code.
#[utoipa::path(get, path = "/v1/service-quota-codes", tag = TAG,
    responses((status = 200, body = [ServiceQuotaCode]), (status = 401, body = Problem)))]
pub async fn list_service_quota_codes(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<ServiceQuotaCode>>, ApiError> {
    let codes = service(&state).catalogue().await?;
    Ok(axum::Json(codes.iter().map(Into::into).collect()))
}
