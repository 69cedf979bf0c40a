//! The application: shared state, the router with its layers in DESIGN.md §3's order, and serving
//! with graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;

use crate::api;
use crate::domain::clock::{ManualClock, SharedClock, SystemClock};
use crate::domain::service_quota::ServiceQuotaLimits;
use crate::domain::usage::Engine;
use crate::domain::waldur::{ChatQuotas, SystemDefaults};
use crate::http::auth::{self, KeyCache};
use crate::http::error::{self, ApiError, Failure};
use crate::http::rate_limit::{self, KeyRateLimiter};
use crate::http::request_id::{self, RequestId};
use crate::store::{AnyStore, Store};

/// Settings of a running server (the parts of the command line that shape requests).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL for absolute links; `None`: from the request's Host.
    pub public_url: Option<String>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub rate_limit_requests: u32,
    pub rate_limit_window: Duration,
    /// Waldur's system default chat token limits (-1: unlimited).
    pub chat_defaults: SystemDefaults,
    /// Whether webhooks may call loopback, private, link-local or unspecified addresses.
    pub webhook_allow_private: bool,
    /// `--test-clock`: the server's clock, moved by `POST /v1/test-clock`; `None`: the routes
    /// answer 404.
    pub test_clock: Option<ManualClock>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit_requests: 6000,
            rate_limit_window: Duration::from_secs(60),
            chat_defaults: SystemDefaults::default(),
            webhook_allow_private: false,
            test_clock: None,
        }
    }
}

/// What every handler and layer shares: one `Arc`, so the per-request clones the layers make
/// cost one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The shared parts, reached through [`AppState`]'s `Deref`.
pub struct Shared {
    pub store: AnyStore,
    pub clock: SharedClock,
    pub keys: KeyCache,
    pub rate_limiter: KeyRateLimiter,
    pub engine: Arc<Engine>,
    /// Waldur chat token quotas (also hooked into the engine).
    pub chat_quotas: Arc<ChatQuotas>,
    /// The hook that makes applied quotas' limits exist (and knows the code catalogue).
    pub service_quotas: Arc<ServiceQuotaLimits>,
    pub settings: Settings,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over `store` with the system clock, or the test clock when the settings have one.
    pub fn new(store: AnyStore, settings: Settings) -> Self {
        let clock: SharedClock = match &settings.test_clock {
            Some(test_clock) => Arc::new(test_clock.clone()),
            None => Arc::new(SystemClock),
        };
        Self::with_clock(store, settings, clock)
    }

    /// State over `store` with an injected clock (tests move it instead of sleeping). Starts the
    /// usage engine, so it must be called inside a Tokio runtime.
    pub fn with_clock(store: AnyStore, settings: Settings, clock: SharedClock) -> Self {
        let engine = Engine::start(store.clone(), clock.clone());
        let chat_quotas = Arc::new(ChatQuotas::new(store.clone(), settings.chat_defaults));
        engine.add_preparer(chat_quotas.clone());
        let service_quotas = Arc::new(ServiceQuotaLimits::new(store.clone()));
        engine.add_preparer(service_quotas.clone());
        ServiceQuotaLimits::keep_loaded(&service_quotas, Duration::from_secs(30));
        Self(Arc::new(Shared {
            engine,
            chat_quotas,
            service_quotas,
            store,
            clock,
            keys: KeyCache::default(),
            rate_limiter: KeyRateLimiter::on(
                settings.rate_limit_requests,
                settings.rate_limit_window,
                settings.test_clock.clone(),
            ),
            settings,
        }))
    }
}

/// The whole HTTP application: every surface behind the shared layers.
pub fn router(state: AppState) -> Router {
    crate::http::metrics::handle();
    let (timeout, body_limit) = (
        state.settings.request_timeout,
        state.settings.body_limit_bytes,
    );
    Router::new()
        .merge(api::native::router())
        .merge(api::waldur::router())
        .merge(api::zitadel::router())
        .merge(api::confluent::router())
        .merge(api::datarobot::router())
        .fallback(no_route)
        // Layers run from the last added (outermost) to the first (innermost).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::metering::meter_requests,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_rate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_caller,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .layer(middleware::from_fn(trace))
        .layer(middleware::from_fn(crate::http::metrics::track))
        .layer(middleware::from_fn(request_id::request_id))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError(Failure::NoRoute)
}

/// One span per request, with its route, method, request id and (set by auth) tenant; one line
/// when it ends, with status and latency.
async fn trace(request: Request, next: Next) -> Response {
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

/// Serves `state` on `listener` until `shutdown` completes; requests in flight then finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A changed system default applies to every stored user before the first request.
    let changed = state
        .chat_quotas
        .apply_defaults(&state.engine)
        .await
        .map_err(|e| std::io::Error::other(format!("applying chat quota defaults: {e}")))?;
    if changed > 0 {
        tracing::info!(changed, "chat token limits brought to the system defaults");
    }
    let app = router(state.clone());
    let notifier = crate::notify::start(
        state.store.clone(),
        state.clock.clone(),
        state.engine.outbox_written(),
        crate::notify::Webhook {
            allow_private: state.settings.webhook_allow_private,
        },
    );
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        for tick in 0u64.. {
            every.tick().await;
            let now = state.clock.now().timestamp_millis();
            if let Err(e) = state.store.sweep(now, tick % 60 == 0).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
            if tick % 10 == 0 {
                crate::http::metrics::handle().run_upkeep();
                state.rate_limiter.forget_idle();
            }
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    notifier.abort();
    served
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
