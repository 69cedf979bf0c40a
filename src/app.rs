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
use crate::domain::ports::*;
use crate::domain::retention::{Retention, RetentionStore, Swept};
use crate::domain::service_quota::ServiceQuotaLimits;
use crate::domain::usage::Engine;
use crate::domain::waldur::{ChatQuotas, SystemDefaults};
use crate::domain::zitadel_instance::InstanceBlocks;
use crate::http::auth::{self, KeyCache};
use crate::http::error::{self, ApiError, Failure};
use crate::http::rate_limit::{self, RequestRateLimiter};
use crate::http::request_id::{self, RequestId};
use crate::store::AnyStore;

/// Settings of a running server (the parts of the command line that shape requests).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL for absolute links; `None`: see [`crate::http::links`].
    pub public_url: Option<String>,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed for links.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `Host` values links may use; empty: the bound address and the localhost forms.
    pub allowed_hosts: Vec<String>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Requests each key may make per window.
    pub rate_limit_requests: u32,
    /// Requests all keys of a tenant may make together per window; `None`: ten keys' worth.
    pub rate_limit_tenant_requests: Option<u32>,
    pub rate_limit_window: Duration,
    /// Waldur's system default chat token limits (-1: unlimited).
    pub chat_defaults: SystemDefaults,
    /// Whether webhooks may call special-purpose addresses (loopback, private, ...).
    pub webhook_allow_private: bool,
    /// Origins whose browsers may call the API (`*`: any); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Header-read timeout, connection cap, shutdown deadline.
    pub connections: crate::http::connections::Limits,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// Whether `/metrics` is served on a listener of its own (then 404 on this one).
    pub metrics_elsewhere: bool,
    /// How long a cached key is trusted before the store is asked again.
    pub key_cache_ttl: Duration,
    /// Invalid credentials a client address may present per minute before it is answered 429.
    pub auth_failures_per_minute: u32,
    /// ZITADEL system API users whose self-signed JWTs authenticate on the system API.
    pub system_api_users: crate::http::system_users::SystemApiUsers,
    /// How long counters and outbox rows are kept.
    pub retention: Retention,
    /// How many limits a tenant's writes may create.
    pub bounds: crate::domain::bounds::Bounds,
    /// `--test-clock`: the server's clock, moved by `POST /v1/test-clock`; `None`: the routes
    /// answer 404.
    pub test_clock: Option<ManualClock>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            trusted_proxies: Vec::new(),
            allowed_hosts: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit_requests: 6000,
            rate_limit_tenant_requests: None,
            rate_limit_window: Duration::from_secs(60),
            chat_defaults: SystemDefaults::default(),
            webhook_allow_private: false,
            cors_allowed_origins: Vec::new(),
            connections: crate::http::connections::Limits::default(),
            metrics_token: None,
            metrics_elsewhere: false,
            key_cache_ttl: KeyCache::DEFAULT_TTL,
            auth_failures_per_minute:
                crate::http::auth_throttle::AuthThrottle::DEFAULT_MAX_FAILURES,
            system_api_users: Default::default(),
            retention: Retention::default(),
            bounds: crate::domain::bounds::Bounds::default(),
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
    /// Invalid credentials per client address.
    pub auth_throttle: crate::http::auth_throttle::AuthThrottle,
    pub rate_limiter: RequestRateLimiter,
    pub engine: Arc<Engine>,
    /// Waldur chat token quotas (also hooked into the engine).
    pub chat_quotas: Arc<ChatQuotas>,
    /// The hook that makes applied quotas' limits exist (and knows the code catalogue).
    pub service_quotas: Arc<ServiceQuotaLimits>,
    /// The tenants whose ZITADEL instance is blocked (SetLimits `block: true`).
    pub instance_blocks: Arc<InstanceBlocks>,
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
        let engine = Engine::start_with(store.clone(), clock.clone(), settings.bounds);
        let chat_quotas = Arc::new(ChatQuotas::new(store.clone(), settings.chat_defaults));
        engine.add_preparer(chat_quotas.clone());
        let service_quotas = Arc::new(ServiceQuotaLimits::new(store.clone()));
        engine.add_preparer(service_quotas.clone());
        ServiceQuotaLimits::keep_loaded(&service_quotas, Duration::from_secs(30));
        let instance_blocks = Arc::new(InstanceBlocks::default());
        InstanceBlocks::keep_loaded(&instance_blocks, store.clone(), Duration::from_secs(2));
        Self(Arc::new(Shared {
            instance_blocks,
            engine,
            chat_quotas,
            service_quotas,
            store,
            clock,
            keys: KeyCache::new(settings.key_cache_ttl, KeyCache::DEFAULT_MAX_ENTRIES),
            auth_throttle: crate::http::auth_throttle::AuthThrottle::new(
                settings.auth_failures_per_minute,
                Duration::from_secs(60),
            ),
            rate_limiter: RequestRateLimiter::on(
                settings.rate_limit_requests,
                settings.rate_limit_tenant_requests.unwrap_or_else(|| {
                    rate_limit::default_tenant_requests(settings.rate_limit_requests)
                }),
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
            crate::http::links::resolve,
        ))
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
        // Preflights are answered here, before authentication.
        .layer(middleware::from_fn_with_state(
            crate::http::cors::Cors::new(&state.settings.cors_allowed_origins).unwrap_or_else(
                |e| {
                    tracing::error!(error = %e, "CORS disabled: an allowed origin is invalid");
                    crate::http::cors::Cors::disabled()
                },
            ),
            crate::http::cors::cors,
        ))
        .layer(middleware::from_fn(trace))
        .layer(middleware::from_fn(crate::http::metrics::track))
        // gRPC calls (content-type application/grpc*) leave here for tonic.
        .layer(middleware::from_fn_with_state(
            api::zitadel::grpc::server(state.clone()),
            api::zitadel::grpc::route,
        ))
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

/// Serves `state` on `listener` until `shutdown` completes; requests in flight then finish, within
/// the shutdown deadline (see [`crate::http::connections`]).
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
    let limits = state.settings.connections;
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
