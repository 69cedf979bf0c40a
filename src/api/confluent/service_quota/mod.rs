//! Confluent applied quotas (`/service-quota/v1`): the catalogue of quota codes and where each
//! stands for the caller's organization, in Confluent's wire format and `Failure` envelope; and
//! the native calls that adjust applied limits and define codes.

mod applied;
mod dto;
mod native;

use axum::Router;
use axum::routing::{get, put};

use crate::domain::service_quota::ServiceQuotas;
use crate::state::AppState;
use crate::store::AnyStore;

pub use applied::*;
pub use dto::*;
pub use native::*;

pub(crate) fn service(state: &AppState) -> ServiceQuotas<'_, AnyStore> {
    ServiceQuotas {
        store: &state.store,
        engine: &state.engine,
    }
}

/// The service-quota routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/service-quota/v1/applied-quotas",
            get(applied::list_applied_quotas),
        )
        .route(
            "/service-quota/v1/applied-quotas/{id}",
            get(applied::get_applied_quota),
        )
        .route("/service-quota/v1/scopes", get(applied::list_scopes))
        .route("/service-quota/v1/scopes/{id}", get(applied::get_scope))
        .route(
            "/v1/applied-quotas/{code}",
            put(native::adjust_applied_quota),
        )
        .route(
            "/v1/applied-quotas/{code}/adjustments",
            get(native::applied_quota_adjustments),
        )
        .route(
            "/v1/service-quota-codes",
            get(native::list_service_quota_codes),
        )
        .route(
            "/v1/service-quota-codes/{code}",
            put(native::define_service_quota_code),
        )
}
