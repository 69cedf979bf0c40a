//! Tenant request metering (ZITADEL's `UNIT_REQUESTS_ALL_AUTHENTICATED`): every authenticated
//! request of a tenant counts against the tenant's request quota, if it has one.
//!
//! The unit is consumed through the usage engine BEFORE the request is served, so that a
//! blocking quota admits exactly `amount` requests per period however many arrive at once; a
//! refused request is answered 429 in the called surface's envelope. When the response turns out
//! to be one ZITADEL does not count (401, 429, 500), the unit is given back (refunded in the
//! period it was counted in). System-API calls and system keys are never metered. A tenant
//! without such a quota costs one look-up in the engine's limit cache, no I/O.
//!
//! A tenant whose ZITADEL instance is blocked (SetLimits `block: true`) is refused here the same
//! way, before anything is counted: [`refusal`] decides, the error layer renders.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::domain::Error;
use crate::domain::limit::Subject;
use crate::domain::principal::Caller;
use crate::domain::usage::Usage;
use crate::domain::zitadel::REQUESTS_METRIC;
use crate::http::error::ApiError;

/// Path prefix of the system API, never metered.
const SYSTEM_API: &str = "/system/v1/";

/// What ZITADEL's message says when the quota refuses.
const EXHAUSTED: &str = "The quota for authenticated requests is exhausted";

/// The layer: runs after authentication and the rate limit.
pub async fn meter_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let tenant = match request.extensions().get::<Caller>() {
        Some(caller) if !caller.is_system() && !request.uri().path().starts_with(SYSTEM_API) => {
            caller.tenant_id
        }
        _ => return next.run(request).await,
    };
    if let Some(refused) = refusal(&state, tenant) {
        return ApiError::from(refused).into_response();
    }
    let usage = Usage {
        subject: Subject::default(),
        metric: REQUESTS_METRIC.to_owned(),
        amount: 1,
    };
    match state
        .engine
        .applies(tenant, &usage.subject, &usage.metric)
        .await
    {
        Ok(true) => {}
        Ok(false) => return next.run(request).await,
        Err(e) => return ApiError::from(e).into_response(),
    }
    let at = state.clock.now();
    match state.engine.consume(tenant, &usage, None).await {
        Ok(decision) if decision.allowed => {}
        Ok(decision) => {
            return ApiError::from(Error::QuotaExceeded {
                message: EXHAUSTED.into(),
                retry_after: decision.retry_after,
            })
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next.run(request).await;
    if uncounted(response.status()) {
        if let Err(e) = state.engine.refund(tenant, &usage, at).await {
            tracing::warn!(error = %e, "could not give back a metered request");
        }
    }
    response
}

/// Whether the tenant is refused outright (its instance is blocked), as what error.
fn refusal(state: &AppState, tenant: uuid::Uuid) -> Option<Error> {
    state
        .instance_blocks
        .is_blocked(tenant)
        .then(|| Error::QuotaExceeded {
            message: crate::domain::zitadel_instance::BLOCKED.into(),
            retry_after: None,
        })
}

/// The answers ZITADEL does not count as usage.
fn uncounted(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
    )
}
