//! The application's state: the settings of a running server and what every handler and layer
//! shares. It sits below `api/` and `http/` (which import it) and imports neither's routers, so
//! no module imports the file that imports it.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::clock::{ManualClock, SharedClock, SystemClock};
use crate::domain::retention::Retention;
use crate::domain::usage::Engine;
use crate::domain::waldur::{ChatQuotas, SystemDefaults};
use crate::domain::zitadel_instance::InstanceBlocks;
use crate::http::auth::KeyCache;
use crate::http::rate_limit::{self, RequestRateLimiter};
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
    /// `--webhook-signing-key`: alert targets' secrets derive from it; `None`: from a key kept
    /// in the store.
    pub webhook_signing_key: Option<String>,
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
    /// `--shadow`: no limit refuses; decisions report what would have been refused.
    pub shadow: bool,
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
            webhook_signing_key: None,
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
            shadow: false,
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
    pub engine: Arc<Engine<AnyStore>>,
    /// Waldur chat token quotas.
    pub chat_quotas: Arc<ChatQuotas<AnyStore>>,
    /// The tenants whose ZITADEL instance is blocked (SetLimits `block: true`).
    pub instance_blocks: Arc<InstanceBlocks>,
    /// The key alert targets' signing secrets derive from.
    pub signing_key: Arc<crate::domain::alert::SigningKey>,
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
        // The recorder first: the engine and the layers keep the metric handles they register.
        crate::http::metrics::handle();
        let engine = Engine::start_with(store.clone(), clock.clone(), settings.bounds);
        engine.set_shadow_all(settings.shadow);
        let chat_quotas = Arc::new(ChatQuotas::new(store.clone(), settings.chat_defaults));
        let instance_blocks = Arc::new(InstanceBlocks::default());
        InstanceBlocks::keep_loaded(&instance_blocks, store.clone(), Duration::from_secs(2));
        let signing_key = Arc::new(crate::domain::alert::SigningKey::new(
            settings.webhook_signing_key.as_deref(),
        ));
        Self(Arc::new(Shared {
            signing_key,
            instance_blocks,
            engine,
            chat_quotas,
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
