//! The integration tests: one binary, real HTTP on 127.0.0.1:0, both storage backends.

mod support;

mod aggregates;
mod authority;
mod bounds;
mod confluent;
mod connections;
mod cors;
mod datarobot;
mod engine;
mod foundation;
mod generated_client;
mod hardening;
mod openapi;
mod pages;
mod process;
mod rate_limits;
mod ratelimit_headers;
mod retention;
mod seed;
mod test_clock;
mod throttled;
mod usage;
mod waldur;
mod waldur_client;
mod waldur_drf;
mod waldur_limits;
mod zitadel;
mod zitadel_grpc;
mod zitadel_notifications;
mod zitadel_system;
