//! Waldur's chat token quota API (`/api/chat-quota/`): `Token` auth, snake_case JSON, Django REST
//! framework errors. Waldur's own Python client (`waldur-api-client`) works against it unchanged.

mod body;
mod dto;
mod error;
mod handlers;
mod metadata;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub use dto::*;
pub use error::Drf;
pub use handlers::*;

/// The path prefix the surface answers (and whose errors it writes).
pub const PREFIX: &str = "/api/chat-quota";

/// The Waldur routes. Like Waldur, HEAD is not allowed and OPTIONS answers DRF's metadata.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/chat-quota/usage/",
            get(handlers::usage)
                .head(handlers::not_allowed)
                .options(handlers::usage_options),
        )
        .route(
            "/api/chat-quota/set_quota/",
            post(handlers::set_quota).options(handlers::set_quota_options),
        )
}
