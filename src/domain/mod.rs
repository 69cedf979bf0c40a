//! The shared domain: tenants, principals, limits, windows and the usage engine. Pure rules; it
//! never imports axum or sqlx, and every vendor surface is a translation of it.

pub mod access;
pub mod aggregate;
pub mod authority;
pub mod bounds;
pub mod clock;
pub mod confluent;
pub mod datarobot;
pub mod error;
pub mod limit;
pub mod notification;
pub mod page;
pub mod ports;
pub mod precedence;
pub mod principal;
pub mod retention;
pub mod service_quota;
pub mod tenant;
pub mod test_clock;
pub mod text;
pub mod usage;
pub mod waldur;
pub mod window;
pub mod zitadel;
pub mod zitadel_instance;

pub use error::{Credentials, Error, Field, Result};
