//! The `quotaplane` binary: parse the command line, start telemetry, then serve, migrate or admin.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use quotaplane::app::{self, AppState, Settings};
use quotaplane::config::{Cli, Command, LogFormat, ServeArgs};
use quotaplane::domain::access::{self, Bootstrap};
use quotaplane::store::AnyStore;

/// mimalloc rather than the system allocator: a request allocates many small, short-lived
/// buffers, and glibc's malloc spent about a sixth of the server's CPU on them (perf, consume
/// on one hot limit).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Migrate(store)) => {
            quotaplane::telemetry::init(LogFormat::Text);
            AnyStore::connect_with(&store.resolved_url(), store.options())
                .await
                .map(drop)
        }
        Some(Command::Seed { file, store }) => {
            quotaplane::telemetry::init(LogFormat::Text);
            seed(&file, &store).await
        }
        Some(Command::Admin { store, action }) => {
            quotaplane::telemetry::init(LogFormat::Text);
            match AnyStore::connect_with(&store.resolved_url(), store.options()).await {
                Ok(s) => quotaplane::admin::run(&s, action).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quotaplane: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> quotaplane::domain::Result<()> {
    quotaplane::telemetry::init(args.log_format);
    args.check()
        .map_err(|message| quotaplane::domain::Error::Invalid {
            field: quotaplane::domain::Field::Header("--test-clock".into()),
            message,
        })?;
    let store = AnyStore::connect_with(&args.store.resolved_url(), args.store.options()).await?;
    let now = chrono::Utc::now();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| {
            quotaplane::domain::Error::Unavailable(format!("cannot bind {}: {e}", args.bind))
        })?;
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind));
    if let Bootstrap::Created(key, secret) =
        access::bootstrap(&store, args.bootstrap_token.clone(), now).await?
    {
        eprintln!(
            "\nquotaplane: created the first system key {} (its secret is shown only now):\n\n  \
             {}\n\nTry it:\n\n  curl -H 'Authorization: Bearer {}' {}/v1/whoami\n",
            key.id,
            secret.expose(),
            secret.expose(),
            base
        );
    }
    let system_api_users = match &args.system_api_users {
        Some(file) => {
            let mut audiences = args.system_api_audience.clone();
            if audiences.is_empty() || args.public_url.is_some() {
                audiences.push(base.clone());
            }
            quotaplane::http::system_users::SystemApiUsers::load(file, audiences)
                .map_err(quotaplane::domain::Error::Unavailable)?
        }
        None => Default::default(),
    };
    let retention = args.retention();
    let settings = Settings {
        system_api_users,
        public_url: args.public_url,
        trusted_proxies: args.trusted_proxies,
        allowed_hosts: args.allowed_hosts,
        body_limit_bytes: args.body_limit_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_seconds),
        rate_limit_requests: args.rate_limit_requests,
        rate_limit_tenant_requests: args.rate_limit_tenant_requests,
        cors_allowed_origins: args.cors_allowed_origins.clone(),
        rate_limit_window: Duration::from_secs(u64::from(args.rate_limit_window_seconds.max(1))),
        chat_defaults: quotaplane::domain::waldur::SystemDefaults(
            quotaplane::domain::waldur::PerPeriod {
                daily: args.chat_daily_default,
                weekly: args.chat_weekly_default,
                monthly: args.chat_monthly_default,
            },
        ),
        webhook_allow_private: args.webhook_allow_private,
        webhook_signing_key: args.webhook_signing_key.clone(),
        connections: quotaplane::http::connections::Limits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout_seconds),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            shutdown_deadline: Duration::from_secs(args.shutdown_deadline_seconds),
            http2_keep_alive: Duration::from_secs(args.http2_keep_alive_seconds),
        },
        metrics_token: args.metrics_token.clone(),
        metrics_elsewhere: args.metrics_bind.is_some(),
        key_cache_ttl: Duration::from_millis(args.key_cache_ttl_ms),
        auth_failures_per_minute: args.auth_failures_per_minute,
        retention,
        shadow: args.shadow,
        bounds: quotaplane::domain::bounds::Bounds {
            limits_per_tenant: args.max_limits_per_tenant,
            limits_per_metric: args.max_limits_per_metric,
            open_leases_per_tenant: args.max_open_leases_per_tenant,
            partitions_per_limit: args.max_partitions_per_limit,
        },
        test_clock: args
            .test_clock
            .then(|| quotaplane::domain::clock::ManualClock::starting_at(now)),
    };
    if let Some(bind) = args.metrics_bind {
        let metrics = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            quotaplane::domain::Error::Unavailable(format!("cannot bind {bind}: {e}"))
        })?;
        let limits = settings.connections;
        tokio::spawn(quotaplane::http::connections::serve(
            metrics,
            app::metrics_router(args.metrics_token.clone()),
            limits,
            std::future::pending(),
        ));
    }
    tracing::info!(bind = %args.bind, store = store.backend(), "quotaplane serving");
    let state = AppState::new(store, settings);
    if let Some(file) = &args.seed {
        let applied = quotaplane::seed::apply_file(&state, file).await?;
        tracing::info!(file = %file.display(), created = applied.created,
            updated = applied.updated, unchanged = applied.unchanged, "seed file applied");
    }
    app::serve(listener, state, app::shutdown_signal())
        .await
        .map_err(|e| quotaplane::domain::Error::Internal(format!("server failed: {e}")))
}

/// `quotaplane seed FILE`: applies a seed file to the store, without serving.
async fn seed(
    file: &std::path::Path,
    store: &quotaplane::config::StoreArgs,
) -> quotaplane::domain::Result<()> {
    let store = AnyStore::connect_with(&store.resolved_url(), store.options()).await?;
    let state = AppState::new(store, Settings::default());
    let applied = quotaplane::seed::apply_file(&state, file).await?;
    println!(
        "{}: {} created, {} updated, {} unchanged",
        file.display(),
        applied.created,
        applied.updated,
        applied.unchanged
    );
    Ok(())
}
