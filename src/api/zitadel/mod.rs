//! The ZITADEL system API's quota calls (`/system/v1/instances/{instanceId}/quotas`): protojson
//! in lowerCamelCase, 200 for every success, and gRPC statuses as errors. Only `system` keys may
//! call it; an instance is a tenant.

mod dto;
mod error;
mod quotas;

use axum::Router;
use axum::routing::{delete, post};

use crate::app::AppState;

pub use dto::*;
pub use error::{ErrorDetail, RpcStatus, ZitadelStatus};
pub use quotas::*;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/system/v1/instances/{instance_id}/quotas",
            post(quotas::add_quota).put(quotas::set_quota),
        )
        .route(
            "/system/v1/instances/{instance_id}/quotas/{unit}",
            delete(quotas::remove_quota),
        )
}
