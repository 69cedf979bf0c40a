//! The Confluent client quota surface (`/kafka-quotas/v1/client-quotas`): snake_case JSON, HTTP
//! Basic auth, Confluent's `Failure` error envelope (also used by `/service-quota/`), paging by
//! `page_size`/`page_token`. Plus a native look-up of a principal's effective client quota.

mod client_quotas;
mod dto;
mod error;
mod links;
mod lookup;
pub mod service_quota;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub use client_quotas::*;
pub use dto::*;
pub use error::{ConfluentFailure, ErrorObject, ErrorSource, FailureBody, describe};
pub use lookup::*;

/// The Confluent routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/kafka-quotas/v1/client-quotas",
            get(client_quotas::list_client_quotas).post(client_quotas::create_client_quota),
        )
        .route(
            "/kafka-quotas/v1/client-quotas/{id}",
            get(client_quotas::get_client_quota)
                .patch(client_quotas::update_client_quota)
                .delete(client_quotas::delete_client_quota),
        )
        .route(
            "/v1/kafka/environments/{environment}/clusters/{cluster}/principals/{principal}/client-quota",
            get(lookup::effective_client_quota),
        )
        .merge(service_quota::router())
}
