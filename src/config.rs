//! The command line and its environment variables (`QUOTAPLANE_*`), with safe defaults.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// quotaplane: a multi-tenant quota control plane speaking Confluent, DataRobot, ZITADEL and
/// Waldur quota APIs.
#[derive(Debug, Parser)]
#[command(name = "quotaplane", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, also accepted without the subcommand (serving is the default).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Apply the database migrations and exit.
    Migrate(StoreArgs),
    /// Apply a seed file (tenants, keys, quotas) to the store and exit.
    Seed {
        /// The seed file, YAML or JSON.
        file: std::path::PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage tenants and keys from a shell.
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: AdminAction,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// `postgres://…` or `sqlite://path`; falls back to `DATABASE_URL`, then to an SQLite file
    /// under ./data/.
    #[arg(long, env = "QUOTAPLANE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// SQLite only: `full` syncs the disk on every commit (survives power loss); `normal`
    /// survives a crash or `kill -9` of the process, but a power loss may lose the last commits.
    #[arg(long, env = "QUOTAPLANE_SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSync::Full)]
    pub sqlite_synchronous: SqliteSync,
}

/// How hard SQLite pushes each commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl StoreArgs {
    /// The default store: an SQLite file, created with its folder on first start.
    pub const DEFAULT_URL: &str = "sqlite://data/quotaplane.db";

    /// The URL to use: the flag or `QUOTAPLANE_DATABASE_URL`, else `DATABASE_URL`, else the default.
    pub fn resolved_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| Self::DEFAULT_URL.to_owned())
    }

    /// The store options these arguments ask for.
    pub fn options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            sqlite_full_sync: self.sqlite_synchronous == SqliteSync::Full,
        }
    }
}

/// Options of the server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "QUOTAPLANE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Log lines as human text or JSON.
    #[arg(long, env = "QUOTAPLANE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Requests each key may make per window.
    #[arg(long, env = "QUOTAPLANE_RATE_LIMIT_REQUESTS", default_value_t = 6000)]
    pub rate_limit_requests: u32,
    /// Requests all keys of one tenant may make together per window (default: ten times
    /// `--rate-limit-requests`).
    #[arg(long, env = "QUOTAPLANE_RATE_LIMIT_TENANT_REQUESTS")]
    pub rate_limit_tenant_requests: Option<u32>,
    /// Length of the rate-limit window, in seconds.
    #[arg(
        long,
        env = "QUOTAPLANE_RATE_LIMIT_WINDOW_SECONDS",
        default_value_t = 60
    )]
    pub rate_limit_window_seconds: u32,
    /// Most limits one tenant may hold, every owner's together; a write past it is refused (409).
    #[arg(long, env = "QUOTAPLANE_MAX_LIMITS_PER_TENANT", default_value_t = 100_000,
        value_parser = clap::value_parser!(i64).range(1..))]
    pub max_limits_per_tenant: i64,
    /// Puts every blocking limit in shadow mode: decisions report what they would refuse
    /// (`would_refuse`) and refuse nothing. A dry run in front of a live service.
    #[arg(long, env = "QUOTAPLANE_SHADOW")]
    pub shadow: bool,
    /// Most limits one tenant may hold on one metric; a write past it is refused (409).
    #[arg(long, env = "QUOTAPLANE_MAX_LIMITS_PER_METRIC", default_value_t = 50_000,
        value_parser = clap::value_parser!(i64).range(1..))]
    pub max_limits_per_metric: i64,
    /// Most leases one tenant may hold open at once; an acquire past it is refused (409).
    #[arg(long, env = "QUOTAPLANE_MAX_OPEN_LEASES_PER_TENANT", default_value_t = 100_000,
        value_parser = clap::value_parser!(i64).range(1..))]
    pub max_open_leases_per_tenant: i64,
    /// Most `per` partitions one limit may hold in one period; a new one past it is refused (409).
    #[arg(long, env = "QUOTAPLANE_MAX_PARTITIONS_PER_LIMIT", default_value_t = 100_000,
        value_parser = clap::value_parser!(i64).range(1..))]
    pub max_partitions_per_limit: i64,
    /// Counters of ended periods are kept one more window's length plus this margin, in seconds.
    #[arg(
        long,
        env = "QUOTAPLANE_COUNTER_RETENTION_MARGIN_SECONDS",
        default_value_t = 600
    )]
    pub counter_retention_margin_seconds: u32,
    /// A `per` partition's counter of a `window: none` limit is swept once it holds 0 and has
    /// not been written for this long, in seconds.
    #[arg(
        long,
        env = "QUOTAPLANE_IDLE_PARTITION_SECONDS",
        default_value_t = 3600
    )]
    pub idle_partition_seconds: u32,
    /// A notification is dead-lettered after this many failed delivery attempts.
    #[arg(long, env = "QUOTAPLANE_OUTBOX_MAX_ATTEMPTS", default_value_t = 20,
        value_parser = clap::value_parser!(i32).range(1..))]
    pub outbox_max_attempts: i32,
    /// A notification not delivered within this many seconds is dead-lettered.
    #[arg(long, env = "QUOTAPLANE_OUTBOX_MAX_AGE_SECONDS", default_value_t = 3 * 24 * 3600)]
    pub outbox_max_age_seconds: u32,
    /// Delivered, refused and dead notifications are kept this many seconds (and at least until
    /// their period ends), then swept.
    #[arg(long, env = "QUOTAPLANE_OUTBOX_RETENTION_SECONDS", default_value_t = 7 * 24 * 3600)]
    pub outbox_retention_seconds: u32,
    /// Days the final usage of ended periods of windows of a day or longer is kept as history
    /// (`GET /v1/limits/{id}/history`).
    #[arg(
        long,
        env = "QUOTAPLANE_HISTORY_RETENTION_DAYS_LONG",
        default_value_t = 90
    )]
    pub history_retention_days_long: u32,
    /// Days the final usage of ended periods of shorter windows is kept as history.
    #[arg(
        long,
        env = "QUOTAPLANE_HISTORY_RETENTION_DAYS_SHORT",
        default_value_t = 7
    )]
    pub history_retention_days_short: u32,
    /// Most `per` partitions of one ended period kept as history (those that used the most).
    #[arg(long, env = "QUOTAPLANE_HISTORY_MAX_PARTITIONS", default_value_t = 100,
        value_parser = clap::value_parser!(i64).range(0..=100_000))]
    pub history_max_partitions: i64,
    /// Days audit records (`GET /v1/audit`) are kept.
    #[arg(long, env = "QUOTAPLANE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u32,
    /// Base URL for absolute links (`Location`, `self`, `next`); wins over every request header.
    #[arg(long, env = "QUOTAPLANE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Comma-separated addresses or CIDR ranges of reverse proxies whose `Forwarded` and
    /// `X-Forwarded-Proto`/`X-Forwarded-Host` headers are believed when building links.
    #[arg(long, env = "QUOTAPLANE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Comma-separated `Host` values (`name` or `name:port`) links may be built from; by default
    /// the bound address and `localhost`, `127.0.0.1`, `[::1]` on the bound port. Another
    /// `Host` gets links to the address the client connected to.
    #[arg(long, env = "QUOTAPLANE_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "QUOTAPLANE_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Longest a request may take, in seconds, before it is answered 503.
    #[arg(long, env = "QUOTAPLANE_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Waldur chat: the daily token limit of users without their own (-1: unlimited). Applied
    /// to every stored user at start-up.
    #[arg(long, env = "QUOTAPLANE_CHAT_DAILY_DEFAULT", default_value_t = -1,
        allow_negative_numbers = true, value_parser = chat_default)]
    pub chat_daily_default: i64,
    /// Waldur chat: the weekly token limit of users without their own (-1: unlimited).
    #[arg(long, env = "QUOTAPLANE_CHAT_WEEKLY_DEFAULT", default_value_t = -1,
        allow_negative_numbers = true, value_parser = chat_default)]
    pub chat_weekly_default: i64,
    /// Waldur chat: the monthly token limit of users without their own (-1: unlimited).
    #[arg(long, env = "QUOTAPLANE_CHAT_MONTHLY_DEFAULT", default_value_t = -1,
        allow_negative_numbers = true, value_parser = chat_default)]
    pub chat_monthly_default: i64,
    /// Let webhooks call special-purpose addresses (loopback, private, link-local, reserved, ...:
    /// tests, private deployments); by default such call URLs are refused at delivery.
    #[arg(
        long,
        env = "QUOTAPLANE_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false
    )]
    pub webhook_allow_private: bool,
    /// The server key alert targets' signing secrets derive from (HMAC-SHA256 of the target id;
    /// at least 32 characters; never logged). Without it a key is generated once and kept in the
    /// database, so a dump of the database alone could then sign alert deliveries.
    #[arg(long, env = "QUOTAPLANE_WEBHOOK_SIGNING_KEY", hide_env_values = true,
        value_parser = signing_key)]
    pub webhook_signing_key: Option<String>,
    /// Origins whose browsers may call the API, comma-separated (`https://homeport.example.com`,
    /// or `*` for any); none by default. Preflights are answered before authentication.
    #[arg(long, env = "QUOTAPLANE_CORS_ALLOWED_ORIGINS", value_delimiter = ',',
        value_parser = crate::http::cors::Cors::check_origin)]
    pub cors_allowed_origins: Vec<String>,
    /// HTTP/1: longest a client may take to send a request's head, in seconds, counted from
    /// when the connection waits for it (so also the idle time allowed between kept-alive
    /// requests); the bytes that pick HTTP/1 or HTTP/2 must arrive within it too.
    #[arg(long, env = "QUOTAPLANE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_seconds: u64,
    /// Most connections open at once; further ones are closed as soon as they are accepted.
    #[arg(long, env = "QUOTAPLANE_MAX_CONNECTIONS", default_value_t = 4096,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// On SIGTERM, how long requests in flight may take to finish, in seconds, before the
    /// connections still open are dropped and the process exits.
    #[arg(
        long,
        env = "QUOTAPLANE_SHUTDOWN_DEADLINE_SECONDS",
        default_value_t = 30
    )]
    pub shutdown_deadline_seconds: u64,
    /// HTTP/2: seconds between keep-alive pings, and how long an unanswered one is waited for.
    #[arg(long, env = "QUOTAPLANE_HTTP2_KEEP_ALIVE_SECONDS", default_value_t = 20,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub http2_keep_alive_seconds: u64,
    /// A bearer token `/metrics` then requires (never logged); by default `/metrics` is public.
    #[arg(long, env = "QUOTAPLANE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `/metrics` on this separate address only (for example a private interface); the
    /// main listener then answers it 404.
    #[arg(long, env = "QUOTAPLANE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// How long a key found in the store is trusted without asking again, in milliseconds: the
    /// longest a key revoked by another replica or `admin revoke-key` keeps working here.
    #[arg(long, env = "QUOTAPLANE_KEY_CACHE_TTL_MS", default_value_t = 2000)]
    pub key_cache_ttl_ms: u64,
    /// Invalid credentials one client address may present per minute; past it, its requests
    /// are answered 429 (in the surface's envelope) without a look-up until the minute ends.
    #[arg(long, env = "QUOTAPLANE_AUTH_FAILURES_PER_MINUTE", default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failures_per_minute: u32,
    /// ZITADEL system API users: a YAML or JSON file mapping each user id to `path` (of its RSA
    /// public key, relative to the file) or `keyData` (the PEM, or base64 of it). Their
    /// self-signed RS256 JWTs authenticate as system principals on the system API.
    #[arg(long, env = "QUOTAPLANE_SYSTEM_API_USERS")]
    pub system_api_users: Option<std::path::PathBuf>,
    /// Audiences a system API user's JWT may name (`aud`), besides `--public-url`
    /// (comma-separated in the environment variable). Without either: `http://<bind>`.
    #[arg(long, env = "QUOTAPLANE_SYSTEM_API_AUDIENCE", value_delimiter = ',')]
    pub system_api_audience: Vec<String>,
    /// The secret of a `system` key to ensure at start-up (never logged), at least 32
    /// characters. When it changes, the key of the earlier token is revoked.
    #[arg(long, env = "QUOTAPLANE_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// CI: a controllable clock (`/v1/test-clock`) and `/v1/test-reset`. The clock starts at the
    /// real time and stands still until moved.
    #[arg(long, env = "QUOTAPLANE_TEST_CLOCK", default_value_t = false)]
    pub test_clock: bool,
    /// Allow `--test-clock` on a PostgreSQL store, which other servers may share (their clocks
    /// would disagree with this one).
    #[arg(
        long,
        env = "QUOTAPLANE_TEST_CLOCK_ALLOW_SHARED",
        default_value_t = false
    )]
    pub test_clock_allow_shared: bool,
    /// CI: a seed file (YAML or JSON) of tenants, keys and quotas, applied before serving.
    #[arg(long, env = "QUOTAPLANE_SEED")]
    pub seed: Option<std::path::PathBuf>,
}

impl ServeArgs {
    /// Refuses combinations that cannot work: a test clock on a store other servers may share.
    pub fn check(&self) -> Result<(), String> {
        let url = self.store.resolved_url();
        let shared = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if self.test_clock && shared && !self.test_clock_allow_shared {
            return Err(
                "--test-clock is refused on a PostgreSQL store, which other servers \
                        may share; add --test-clock-allow-shared if this server is alone on it"
                    .into(),
            );
        }
        Ok(())
    }
}

impl ServeArgs {
    /// The retention rules the flags set.
    pub fn retention(&self) -> crate::domain::retention::Retention {
        let seconds = |s: u32| chrono::TimeDelta::seconds(i64::from(s));
        crate::domain::retention::Retention {
            counter_margin: seconds(self.counter_retention_margin_seconds),
            idle_partition: seconds(self.idle_partition_seconds),
            outbox_max_attempts: self.outbox_max_attempts,
            outbox_max_age: seconds(self.outbox_max_age_seconds),
            outbox_retention: seconds(self.outbox_retention_seconds),
            history_long: chrono::TimeDelta::days(i64::from(self.history_retention_days_long)),
            history_short: chrono::TimeDelta::days(i64::from(self.history_retention_days_short)),
            history_partitions: self.history_max_partitions,
            audit: chrono::TimeDelta::days(i64::from(self.audit_retention_days)),
        }
    }
}

/// A chat token default: -1 (unlimited) up to Waldur's largest limit.
fn chat_default(raw: &str) -> Result<i64, String> {
    let value: i64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a whole number"))?;
    crate::domain::waldur::check_limit("default", value).map_err(|_| {
        format!(
            "must be between -1 and {}",
            crate::domain::waldur::MAX_LIMIT
        )
    })
}

/// A trusted proxy: an address or a CIDR range.
fn proxy(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{raw}` is neither an IP address nor a CIDR range"))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Operator actions on tenants and keys.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create a tenant and print its id.
    CreateTenant { name: String },
    /// List tenants.
    ListTenants,
    /// Create a key and print its secret (shown once).
    CreateKey {
        #[arg(long)]
        tenant: uuid::Uuid,
        /// Comma-separated roles: system, admin, staff, support, user, reporter.
        #[arg(long, value_delimiter = ',', default_value = "admin")]
        roles: Vec<String>,
        /// The principal the key acts as.
        #[arg(long)]
        user_id: Option<uuid::Uuid>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List a tenant's keys (never their secrets).
    ListKeys {
        #[arg(long)]
        tenant: uuid::Uuid,
    },
    /// Revoke a key.
    RevokeKey {
        #[arg(long)]
        tenant: uuid::Uuid,
        key_id: String,
    },
}

/// A `--webhook-signing-key` of at least 32 characters.
fn signing_key(value: &str) -> Result<String, String> {
    if value.chars().count() < 32 {
        return Err("must be at least 32 characters".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
