//! Tenant request metering (ZITADEL's `UNIT_REQUESTS_ALL_AUTHENTICATED`): every authenticated
//! request of a tenant counts against the tenant's request quota, if it has one.
//!
//! The unit is consumed through the usage engine BEFORE the request is served, so that a
//! blocking quota admits exactly `amount` requests per period however many arrive at once; a
//! refused request is answered by [`throttled`]: 429 in the called surface's own words. When
//! the response turns out to be one ZITADEL does not count (401, 429, 500), the unit is given
//! back (refunded in the period it was counted in). System-API calls and system keys are never
//! metered. A tenant without such a quota costs one look-up in the engine's limit cache, no I/O.
//!
//! A tenant whose ZITADEL instance is blocked (SetLimits `block: true`) is refused here the same
//! way, before anything is counted.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::limit::Subject;
use crate::domain::principal::Caller;
use crate::domain::usage::Usage;
use crate::domain::zitadel::REQUESTS_METRIC;
use crate::http::error::{ApiError, Failure};
use crate::http::stage::{Inner, Next, Stage};
use crate::state::AppState;

/// Path prefix of the system API, never metered.
const SYSTEM_API: &str = "/system/v1/";

/// What ZITADEL's message says when the quota refuses.
pub const EXHAUSTED: &str = "The quota for authenticated requests is exhausted";

/// The answer to a tenant that may not be served now (its request quota is exhausted, or its
/// instance is blocked): each surface's own "throttled, retry later", 429 with `Retry-After`
/// (`retry_after`: seconds to the end of the period, when there is one). One function, so every
/// caller that refuses a tenant answers alike on every surface.
pub fn throttled(retry_after: Option<u64>, why: &'static str) -> Response {
    ApiError(Failure::Throttled { retry_after, why }).into_response()
}

/// The layer: runs after authentication and the rate limit.
#[derive(Clone)]
pub struct MeterRequests(pub AppState);

impl Stage for MeterRequests {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        let state = self.0;
        let tenant = match request.extensions().get::<Caller>() {
            Some(caller)
                if !caller.is_system() && !request.uri().path().starts_with(SYSTEM_API) =>
            {
                caller.tenant_id
            }
            _ => return next.run(request).await,
        };
        if state.instance_blocks.is_blocked(tenant) {
            // Blocked until the operator resets the instance's limits: no time to wait for.
            return throttled(None, crate::domain::zitadel_instance::BLOCKED);
        }
        let usage = Usage {
            subject: Subject::default(),
            metric: REQUESTS_METRIC.to_owned(),
            amount: 1,
        };
        // The limits are looked up once: those that apply are the ones counted.
        let applying = match state.engine.applying(tenant, &usage).await {
            Ok(applying) if applying.is_empty() => return next.run(request).await,
            Ok(applying) => applying,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let at = state.clock.now();
        let counted = state
            .engine
            .consume_explained(tenant, &usage, applying, None, false)
            .await;
        match counted {
            Ok(decision) if decision.allowed => {}
            Ok(decision) => return throttled(decision.retry_after, EXHAUSTED),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::{ErrorContext, SURFACES};

    /// Each surface's answer to a throttled tenant: status and body.
    async fn answer(path: &str) -> (StatusCode, serde_json::Value) {
        let envelope = SURFACES
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(
                &crate::api::native::ProblemJson as &dyn crate::http::error::Envelope,
                |(_, e)| *e,
            );
        let ctx = ErrorContext {
            request_id: "r-1",
            path,
        };
        let response = envelope.render(
            &Failure::Throttled {
                retry_after: Some(7),
                why: EXHAUSTED,
            },
            &ctx,
        );
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn every_surface_throttles_in_its_vendors_words() {
        let (status, drf) = answer("/api/chat-quota/usage/").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            drf["detail"],
            "Request was throttled. Expected available in 7 seconds."
        );
        let (status, grpc) = answer("/system/v1/instances/i-1/quotas").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(grpc["code"], 8, "RESOURCE_EXHAUSTED");
        assert_eq!(grpc["details"][0]["id"], "QUOTA-vjAy8");
        for path in ["/kafka-quotas/v1/client-quotas", "/service-quota/v1/scopes"] {
            let (status, confluent) = answer(path).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(confluent["errors"][0]["code"], "too_many_requests");
        }
        let (status, datarobot) = answer("/api/v2/quotas/").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            datarobot["message"],
            "Too many requests. Retry after 7 seconds."
        );
        let (status, problem) = answer("/v1/whoami").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(problem["code"], "quota_exceeded");
    }
}
