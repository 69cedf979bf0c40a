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
    Serve(ServeArgs),
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
    /// Length of the rate-limit window, in seconds.
    #[arg(
        long,
        env = "QUOTAPLANE_RATE_LIMIT_WINDOW_SECONDS",
        default_value_t = 60
    )]
    pub rate_limit_window_seconds: u32,
    /// Base URL for absolute links (`Location`, `self`); by default taken from the request's Host.
    #[arg(long, env = "QUOTAPLANE_PUBLIC_URL")]
    pub public_url: Option<String>,
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
    /// Let webhooks call loopback, private, link-local and unspecified addresses (tests, private
    /// deployments); by default such call URLs are refused at delivery.
    #[arg(
        long,
        env = "QUOTAPLANE_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false
    )]
    pub webhook_allow_private: bool,
    /// The secret of a `system` key to ensure at start-up (never logged).
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
        /// Comma-separated roles: system, admin, staff, support, user.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["quotaplane"].iter().chain(args)).expect("parses");
        cli.serve
    }

    #[test]
    fn a_test_clock_is_refused_on_postgres_unless_sharing_is_allowed() {
        let pg = "--database-url=postgres://u@127.0.0.1/db";
        assert!(serve_args(&["--test-clock", pg]).check().is_err());
        assert!(
            serve_args(&["--test-clock", "--test-clock-allow-shared", pg])
                .check()
                .is_ok()
        );
        assert!(
            serve_args(&["--test-clock", "--database-url=sqlite://x.db"])
                .check()
                .is_ok()
        );
        assert!(serve_args(&[pg]).check().is_ok());
    }
}
