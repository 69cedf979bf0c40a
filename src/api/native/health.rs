//! Probes, metrics and the API description: public, unauthenticated.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::domain::ports::*;
use crate::domain::{Credentials, Error};
use crate::http::error::{ApiError, Failure};
use crate::state::AppState;

/// The answer of a probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store answers: the server can take traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "The store is reachable", body = Health),
    (status = 503, description = "The store is unreachable", body = super::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus text: requests by route, method and status; latency histograms; engine counters;
/// connections. Labels never carry tenant-chosen names. With `--metrics-token` it needs that
/// bearer token; with `--metrics-bind` it is served on that listener only (404 here).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus exposition format", body = String,
        content_type = "text/plain"),
        (status = 401, description = "`--metrics-token` is set and was not presented", body = super::Problem)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if state.settings.metrics_elsewhere {
        return Err(ApiError(Failure::NoRoute));
    }
    exposition(state.settings.metrics_token.as_deref(), &headers)
}

/// The Prometheus text, when `token` (if any) is presented as `Authorization: Bearer`.
pub fn exposition(
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<impl IntoResponse + use<>, ApiError> {
    if let Some(token) = token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .ok_or(Error::Unauthenticated(Credentials::Missing))?
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            return Err(Error::Unauthenticated(Credentials::Invalid).into());
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::http::metrics::handle().render(),
    ))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api::openapi::document(),
    )
}
