//! `/v1/test-clock` and `/v1/test-reset`: CI mode, present only with `--test-clock`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Problem;
use crate::domain::clock::{Clock, ManualClock};
use crate::domain::principal::Caller;
use crate::domain::test_clock::{self, Move};
use crate::domain::{Error, Result};
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;

/// The test clock's reading.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestClock {
    /// The server's current instant (RFC 3339, UTC).
    pub now: DateTime<Utc>,
}

/// Where to move the test clock: exactly one of the two fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockMove {
    /// Seconds to move forward, 0 to 3162240000.
    #[schema(minimum = 0, maximum = 3_162_240_000_i64)]
    pub advance_seconds: Option<i64>,
    /// An instant to move to, not before the clock's current one.
    pub now: Option<DateTime<Utc>>,
}

/// What a reset removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestReset {
    /// Counters, leases, idempotency records and notification events deleted.
    pub deleted: u64,
}

/// The test clock, or 404 when the server runs on the real one.
fn test_clock(state: &AppState) -> Result<&ManualClock> {
    state.settings.test_clock.as_ref().ok_or(Error::NotFound(
        "test clock (start the server with --test-clock)",
    ))
}

/// Reads the test clock.
#[utoipa::path(get, path = "/v1/test-clock", tag = "ci",
    responses((status = 200, body = TestClock),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The server runs without --test-clock", body = Problem,
            content_type = "application/problem+json")))]
pub async fn read_clock(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<TestClock>, ApiError> {
    let clock = test_clock(&state)?;
    Ok(axum::Json(TestClock { now: clock.now() }))
}

/// Moves the test clock forward (system keys): windows, expiries and reset headers follow it.
#[utoipa::path(post, path = "/v1/test-clock", tag = "ci", request_body = TestClockMove,
    responses((status = 200, body = TestClock),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The server runs without --test-clock", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "Not exactly one field, or a move backwards", body = Problem,
            content_type = "application/problem+json")))]
pub async fn move_clock(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TestClockMove>,
) -> Result<axum::Json<TestClock>, ApiError> {
    caller.require_system()?;
    let clock = test_clock(&state)?;
    let step = match (body.advance_seconds, body.now) {
        (Some(seconds), None) => Move::Advance(seconds),
        (None, Some(at)) => Move::To(at),
        _ => {
            return Err(
                Error::invalid_body("", "give exactly one of advance_seconds and now").into(),
            );
        }
    };
    let now = test_clock::move_forward(clock, step)?;
    Ok(axum::Json(TestClock { now }))
}

/// Empties all usage, leases and idempotency records (system keys), keeping tenants, keys and
/// quotas: one server, many isolated test cases.
#[utoipa::path(post, path = "/v1/test-reset", tag = "ci",
    responses((status = 200, body = TestReset),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The server runs without --test-clock", body = Problem,
            content_type = "application/problem+json")))]
pub async fn reset(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, axum::Json<TestReset>), ApiError> {
    caller.require_system()?;
    test_clock(&state)?;
    let deleted = test_clock::reset_usage(&state.store).await?;
    Ok((StatusCode::OK, axum::Json(TestReset { deleted })))
}
