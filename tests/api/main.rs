//! The integration tests: one binary, real HTTP on 127.0.0.1:0, both storage backends.

mod support;

mod confluent;
mod datarobot;
mod foundation;
mod generated_client;
mod openapi;
mod process;
mod ratelimit_headers;
mod seed;
mod test_clock;
mod usage;
mod waldur;
mod waldur_client;
mod waldur_limits;
mod zitadel;
mod zitadel_notifications;
