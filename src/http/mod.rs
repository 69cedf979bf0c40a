//! The shared HTTP layers every surface runs behind (DESIGN.md §3), and the error rendering that
//! writes each failure in the called surface's envelope.

pub mod auth;
pub mod auth_throttle;
pub mod body_limit;
pub mod connections;
pub mod cors;
pub mod error;
pub mod json;
pub mod key_cache;
pub mod links;
pub mod metering;
pub mod metrics;
pub mod rate_limit;
pub mod ratelimit_headers;
pub mod request_id;
pub mod stage;
pub mod system_users;
