//! quotaplane: a multi-tenant quota control plane. A tour of the code, in the order a request
//! meets it:

/// The `admin` subcommand: tenants and keys from a shell.
pub mod admin;
/// The surfaces: native and the vendor APIs, each a translation of the domain.
pub mod api;
/// The router with its layers, serving with graceful shutdown.
pub mod app;
/// The command line and environment (`QUOTAPLANE_*`).
pub mod config;
/// The domain: tenants, principals, limits, windows, the usage engine. No axum, no sqlx.
pub mod domain;
/// Shared HTTP layers (most of them stages, `http::stage`): request id, CORS, auth, rate limit,
/// metering, metrics, error rendering, the body limit; JSON extraction.
pub mod http;
/// The outbox worker: delivers due notifications to their webhooks, at least once.
pub mod notify;
/// CI mode's seed files: tenants, keys and quotas declared in YAML or JSON, applied at start-up.
pub mod seed;
/// The application state every handler and layer shares, and the server's settings.
pub mod state;
/// Storage: one trait, PostgreSQL and SQLite.
pub mod store;
/// Telemetry set-up: log format and filter.
pub mod telemetry;
/// `/ui`: the read-only web page (HTML, CSS and JS embedded at build time).
pub mod ui;
