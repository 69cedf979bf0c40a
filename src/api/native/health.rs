//! Probes, metrics and the API description: public, unauthenticated.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::store::Store;

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

/// Prometheus text: requests by route, method and status; latency histograms; engine counters.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus exposition format", body = String,
        content_type = "text/plain")))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::http::metrics::handle().render(),
    )
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
