//! The application: shared state, the router with its layers in DESIGN.md §3's order, and serving
//! with graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::Response;

use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::body::Limited;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;

use crate::api;
use crate::api::zitadel::grpc::GrpcRoute;
use crate::domain::ports::*;
use crate::domain::retention::{RetentionStore, Swept};
use crate::http::auth::RequireCaller;
use crate::http::body_limit::RefusePastLimitLayer;
use crate::http::error::{ApiError, Failure, RenderErrors};
use crate::http::links::ResolveLinks;
use crate::http::metering::MeterRequests;
use crate::http::metrics::Track;
use crate::http::rate_limit::LimitRate;
use crate::http::request_id::{RequestId, RequestIds};
use crate::http::stage::{Inner, Next, Stage, StageLayer};
pub use crate::state::{AppState, Settings, Shared};

/// The whole HTTP application: every surface behind the shared layers.
pub fn router(state: AppState) -> Router {
    crate::http::metrics::handle();
    let (timeout, body_limit) = (
        state.settings.request_timeout,
        state.settings.body_limit_bytes,
    );
    let cors =
        crate::http::cors::Cors::new(&state.settings.cors_allowed_origins).unwrap_or_else(|e| {
            tracing::error!(error = %e, "CORS disabled: an allowed origin is invalid");
            crate::http::cors::Cors::disabled()
        });
    // DESIGN.md §3's layers, outermost first, laid over each route (so they see the matched
    // route) as one stack, not one `Router::layer` each: a layer clones the rest of the stack
    // on every request, and with each layer boxed in a route of its own that cloned every box
    // below it (about 300 allocations a request). Our own layers are stages (`http::stage`).
    let shared = ServiceBuilder::new()
        .layer(StageLayer(RequestIds))
        // gRPC calls (content-type application/grpc*) leave here for tonic.
        .layer(StageLayer(GrpcRoute(api::zitadel::grpc::server(
            state.clone(),
        ))))
        .layer(StageLayer(Track))
        .layer(StageLayer(Trace))
        // Preflights are answered here, before authentication.
        .layer(StageLayer(cors))
        .layer(StageLayer(RenderErrors))
        .layer(RefusePastLimitLayer(
            u64::try_from(body_limit).unwrap_or(u64::MAX),
        ))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .map_request(unlimited_body)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(StageLayer(RequireCaller(state.clone())))
        .layer(StageLayer(LimitRate(state.clone())))
        .layer(StageLayer(MeterRequests(state.clone())))
        .layer(StageLayer(ResolveLinks(state.clone())));
    Router::new()
        .merge(api::native::router())
        .merge(api::waldur::router())
        .merge(api::zitadel::router())
        .merge(api::confluent::router())
        .merge(api::datarobot::router())
        .merge(crate::ui::router())
        .fallback(no_route)
        .layer(shared)
        .with_state(state)
}

/// The request's body as the layers inside the body limit take it (the limit still applies).
fn unlimited_body(request: Request<Limited<Body>>) -> Request {
    request.map(Body::new)
}

async fn no_route() -> ApiError {
    ApiError(Failure::NoRoute)
}

/// One span per request, with its route, method, request id and (set by auth) tenant; one line
/// when it ends, with status and latency.
#[derive(Clone, Copy)]
struct Trace;

impl Stage for Trace {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        if !tracing::enabled!(tracing::Level::INFO) {
            return next.run(request).await;
        }
        let started = Instant::now();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_owned();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("request",
            method = %request.method(), route, request_id, tenant = tracing::field::Empty);
        async move {
            let response = next.run(request).await;
            tracing::info!(
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "served"
            );
            response
        }
        .instrument(span)
        .await
    }
}

/// Serves `state` on `listener` until `shutdown` completes; requests in flight then finish, within
/// the shutdown deadline (see [`crate::http::connections`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every tenant's chat-token defaults at the configured amounts before the first request.
    let changed = state
        .chat_quotas
        .apply_defaults(&state.engine)
        .await
        .map_err(|e| std::io::Error::other(format!("applying chat quota defaults: {e}")))?;
    if changed > 0 {
        tracing::info!(changed, "chat token limits brought to the system defaults");
    }
    // Every tenant's applied-quota defaults, and the limits per scope reference that earlier
    // versions made on first use moved to them.
    let moved = crate::api::confluent::service_quota::service(&state)
        .apply_defaults()
        .await
        .map_err(|e| std::io::Error::other(format!("applying service quota defaults: {e}")))?;
    if moved > 0 {
        tracing::info!(moved, "applied-quota limits moved to their codes' defaults");
    }
    let app = router(state.clone());
    let limits = state.settings.connections;
    let notifier = crate::notify::start(
        state.store.clone(),
        state.clock.clone(),
        state.engine.outbox_written(),
        crate::notify::Webhook {
            allow_private: state.settings.webhook_allow_private,
        },
        state.signing_key.clone(),
    );
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        for tick in 0u64.. {
            every.tick().await;
            let now = state.clock.now().timestamp_millis();
            let thorough = tick % 60 == 0;
            if let Err(e) = state.store.sweep(now, thorough).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
            if thorough {
                match state
                    .store
                    .sweep_retained(now, &state.settings.retention)
                    .await
                {
                    Ok(swept) if swept != Swept::default() => {
                        tracing::info!(?swept, "swept rows past their retention");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
                }
            }
            if tick % 10 == 0 {
                crate::http::metrics::handle().run_upkeep();
                state.rate_limiter.forget_idle();
                state.auth_throttle.forget_idle();
                state.keys.forget_expired();
                state.engine.forget_idle_limits();
            }
        }
    });
    let served = crate::http::connections::serve(listener, app, limits, shutdown).await;
    upkeep.abort();
    notifier.abort();
    served
}

/// The router of a `--metrics-bind` listener: `/metrics` alone, behind `token` if one is set.
pub fn metrics_router(token: Option<String>) -> Router {
    let token: Arc<Option<String>> = Arc::new(token);
    Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| async move {
            api::native::exposition((*token).as_deref(), &headers)
        }),
    )
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
