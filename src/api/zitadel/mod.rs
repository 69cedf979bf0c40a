//! The ZITADEL system API (`/system/v1/...`): quotas, limits and instances, as grpc-gateway maps
//! them (protojson in lowerCamelCase, 200 for every success, gRPC statuses as errors), and the
//! same calls over gRPC ([`grpc`]: `zitadel.system.v1.SystemService`). Only system principals
//! (system keys, system API users' JWTs) may call it; an instance is a tenant.

mod dto;
mod error;
pub mod grpc;
mod instances;
mod limits;
mod quotas;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::state::AppState;

pub use dto::*;
pub use error::{ErrorDetail, RpcStatus, ZitadelStatus};
pub use instances::*;
pub use limits::*;
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
        .route("/system/v1/healthz", get(instances::healthz))
        .route(
            "/system/v1/instances/_search",
            post(instances::list_instances),
        )
        .route(
            "/system/v1/instances/{instance_id}",
            get(instances::get_instance),
        )
        .route(
            "/system/v1/instances/{instance_id}/limits",
            put(limits::set_limits).delete(limits::reset_limits),
        )
        .route(
            "/system/v1/instances/limits/_bulk",
            put(limits::bulk_set_limits),
        )
}
