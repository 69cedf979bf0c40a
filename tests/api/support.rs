//! The test harness: a real server on 127.0.0.1:0 per test, on SQLite or PostgreSQL, with a
//! manual clock the test moves, and one helper per endpoint.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use quotaplane::app::{self, AppState, Settings};
use quotaplane::domain::access;
use quotaplane::domain::clock::ManualClock;
use quotaplane::store::AnyStore;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::{OnceCell, oneshot};
use uuid::Uuid;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The secret of a `system` key.
    pub system: String,
    pub clock: ManualClock,
    pub backend: Backend,
    /// The database the server runs on (to restart a server on it).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<TempDir>,
}

/// A folder removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("quotaplane-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The instant every test's clock starts at: a Wednesday, mid-morning.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-11T10:15:00Z")
        .expect("valid instant")
        .with_timezone(&Utc)
}

/// The PostgreSQL server tests may use, if any. Under `CI=true` its absence fails the test.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests cannot run")
        }
        _ => {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// The URL of `database` on the server of `base_url`.
fn with_database(base_url: &str, database: &str) -> String {
    let (prefix, rest) = base_url.split_at(base_url.find("://").map_or(0, |i| i + 3));
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map(|(_, q)| q)),
        None => (rest, None),
    };
    match query {
        Some(q) => format!("{prefix}{authority}/{database}?{q}"),
        None => format!("{prefix}{authority}/{database}"),
    }
}

/// A fresh PostgreSQL database for one test, named with the hour it was made in. Databases made
/// more than two hours ago are dropped once per run; younger ones may belong to a run still going
/// (several checkouts can share one PostgreSQL server).
pub async fn fresh_postgres_database(base_url: &str) -> String {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    let hour = Utc::now().timestamp() / 3600;
    let mut admin = sqlx::PgConnection::connect(base_url)
        .await
        .expect("TEST_DATABASE_URL must reach PostgreSQL");
    SWEPT
        .get_or_init(|| async {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'qp\\_test\\_%'",
            )
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
            let made_in = |name: &str| -> Option<i64> { name.split('_').nth(2)?.parse().ok() };
            for name in stale {
                if made_in(&name).is_some_and(|made| made + 2 > hour) {
                    continue;
                }
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        })
        .await;
    let name = format!("qp_test_{hour}_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create test database");
    with_database(base_url, &name)
}

impl TestApp {
    /// A server on `backend` with `settings`.
    pub async fn spawn_with(backend: Backend, settings: Settings) -> Option<TestApp> {
        let (database_url, dir) = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
                (format!("sqlite://{}/test.db", dir.0.display()), Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database(&postgres_url()?).await, None),
        };
        let mut app = Self::start(&database_url, settings).await;
        app.backend = backend;
        app._dir = dir;
        Some(app)
    }

    /// A server on an existing database (for restarts).
    pub async fn start(database_url: &str, settings: Settings) -> TestApp {
        let store = AnyStore::connect(database_url).await.expect("store");
        // A server with a test clock runs on it; others get one only the test moves.
        let clock =
            (settings.test_clock.clone()).unwrap_or_else(|| ManualClock::starting_at(test_epoch()));
        let system = format!("test-system-{}", Uuid::new_v4().simple());
        access::bootstrap(&store, Some(system.clone()), test_epoch())
            .await
            .expect("bootstrap");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = AppState::with_clock(store, settings, Arc::new(clock.clone()));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            system,
            clock,
            backend: if database_url.starts_with("sqlite") {
                Backend::Sqlite
            } else {
                Backend::Postgres
            },
            database_url: database_url.to_owned(),
            shutdown: Some(tx),
            server: Some(server),
            _dir: None,
        }
    }

    /// Starts shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// A request to `path` with `secret` as a Bearer token.
    pub fn request(&self, method: Method, path: &str, secret: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(secret)
    }

    pub async fn get(&self, path: &str, secret: &str) -> Response {
        self.request(Method::GET, path, secret)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, secret: &str, body: &Value) -> Response {
        self.request(Method::POST, path, secret)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put(&self, path: &str, secret: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, secret)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn delete(&self, path: &str, secret: &str) -> Response {
        self.request(Method::DELETE, path, secret)
            .send()
            .await
            .expect("DELETE")
    }

    /// `POST /v1/tenants` as system; the new tenant's id.
    pub async fn create_tenant(&self, name: &str) -> String {
        let response = self
            .post("/v1/tenants", &self.system, &json!({"name": name}))
            .await;
        assert_eq!(response.status(), 201, "create tenant");
        body(response).await["id"].as_str().expect("id").to_owned()
    }

    /// `POST /v1/tenants/{id}/api-keys` as system; the whole answer.
    pub async fn create_key(&self, tenant_id: &str, key: &Value) -> Value {
        let response = self
            .post(
                &format!("/v1/tenants/{tenant_id}/api-keys"),
                &self.system,
                key,
            )
            .await;
        assert_eq!(response.status(), 201, "create key");
        body(response).await
    }

    /// A new tenant with an admin key: (tenant id, admin secret).
    pub async fn tenant_with_admin(&self) -> (String, String) {
        let tenant = self.create_tenant("acme").await;
        let key = self.create_key(&tenant, &json!({"roles": ["admin"]})).await;
        (tenant, key["secret"].as_str().expect("secret").to_owned())
    }

    /// A key of `tenant` with `roles` acting as `user_id`: its secret.
    pub async fn key_for(&self, tenant: &str, roles: &[&str], user_id: Option<Uuid>) -> String {
        let key = self
            .create_key(tenant, &json!({"roles": roles, "user_id": user_id}))
            .await;
        key["secret"].as_str().expect("secret").to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// The JSON body of a response.
pub async fn body(response: Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A number the server's database answers to `sql`, behind its back.
pub async fn scalar(app: &TestApp, sql: &str) -> i64 {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .expect("scalar")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .expect("scalar")
        }
    }
}

/// Like [`on_both_backends!`], with the server's settings given: `settings = <expr>;` first.
#[macro_export]
macro_rules! on_both_backends_with {
    (settings = $settings:expr; $(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_mut)]
            async fn case(mut $app: $crate::support::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let backend = $crate::support::Backend::Sqlite;
                let app = $crate::support::TestApp::spawn_with(backend, $settings).await;
                case(app.expect("sqlite always runs")).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let backend = $crate::support::Backend::Postgres;
                if let Some(app) = $crate::support::TestApp::spawn_with(backend, $settings).await {
                    case(app).await;
                }
            }
        }
    )*};
}

/// Runs each case once on SQLite and once on PostgreSQL (when configured), as
/// `<case>::on_sqlite` and `<case>::on_postgres`, with default settings.
#[macro_export]
macro_rules! on_both_backends {
    ($($cases:tt)*) => {
        $crate::on_both_backends_with! {
            settings = quotaplane::app::Settings::default();
            $($cases)*
        }
    };
}

/// Runs each case, which takes a database URL, once on a fresh SQLite file and once on a fresh
/// PostgreSQL database (when configured), as `<case>::on_sqlite` and `<case>::on_postgres`: for
/// tests that start, stop and restart servers on one database.
#[macro_export]
macro_rules! on_both_databases {
    ($($(#[$meta:meta])* async fn $name:ident($url:ident: &str) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn case($url: &str) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let dir = $crate::support::TempDir::new();
                case(&format!("sqlite://{}/quotaplane.db", dir.0.display())).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(base) = $crate::support::postgres_url() {
                    case(&$crate::support::fresh_postgres_database(&base).await).await;
                }
            }
        }
    )*};
}

/// Runs `sql` on the database at `url`: for tests that write rows as an earlier version did.
pub async fn execute_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        sqlx::query(sql).execute(&mut c).await.expect(sql);
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("pg");
        sqlx::query(sql).execute(&mut c).await.expect(sql);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_name_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
