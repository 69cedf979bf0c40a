//! The real binary, as an operator starts it: first-start bootstrap, and a clean exit on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::TempDir;

/// A `quotaplane serve` process on a free port and a fresh SQLite file.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub stderr: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// Starts the binary with `env` on `database_url` and waits until `/readyz` answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_quotaplane"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start quotaplane");
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status() == 200 {
                    return Server {
                        child,
                        base,
                        stderr,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("quotaplane did not become ready");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits within 10 s")
            .expect("exit status")
    }
}

#[tokio::test]
async fn the_first_start_prints_a_curl_line_that_answers_from_whoami_and_sigterm_exits_0() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/data/quotaplane.db", dir.0.display());
    let mut server = Server::start(&url, &[]).await;
    let mut curl_line = None;
    while let Ok(Some(line)) = server.stderr.next_line().await {
        if line.trim_start().starts_with("curl ") {
            curl_line = Some(line);
            break;
        }
    }
    let curl_line = curl_line.expect("a curl line on stderr");
    let secret = curl_line
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a bearer secret in the curl line");
    assert!(
        curl_line.contains(&format!("{}/v1/whoami", server.base)),
        "{curl_line}"
    );
    let me = reqwest::Client::new()
        .get(format!("{}/v1/whoami", server.base))
        .bearer_auth(secret)
        .send()
        .await
        .expect("whoami");
    assert_eq!(me.status(), 200);
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_bootstrap_token_is_a_system_key_and_no_secret_is_printed() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/q.db", dir.0.display());
    let server = Server::start(
        &url,
        &[(
            "QUOTAPLANE_BOOTSTRAP_TOKEN",
            "operator-token-0123456789-abcdefghijkl",
        )],
    )
    .await;
    let me = reqwest::Client::new()
        .get(format!("{}/v1/whoami", server.base))
        .bearer_auth("operator-token-0123456789-abcdefghijkl")
        .send()
        .await
        .expect("whoami");
    assert_eq!(me.status(), 200);
    let roles = crate::support::body(me).await["roles"].clone();
    assert_eq!(roles, serde_json::json!(["system"]));
    let mut server = server;
    let status = server.child.start_kill();
    assert!(status.is_ok());
    let _ = server.child.wait().await;
    let mut printed = String::new();
    while let Ok(Some(line)) = server.stderr.next_line().await {
        printed.push_str(&line);
    }
    assert!(
        !printed.contains("qps_"),
        "no generated secret when a token is given: {printed}"
    );
}

#[tokio::test]
async fn a_bootstrap_token_shorter_than_32_characters_is_refused_at_start_without_echoing_it() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/q.db", dir.0.display());
    let run = Command::new(env!("CARGO_BIN_EXE_quotaplane"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &url])
        .env("QUOTAPLANE_BOOTSTRAP_TOKEN", "short-secret-xyz")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();

    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("exits at once")
        .expect("output");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32"), "a clear reason: {stderr}");
    assert!(
        !stderr.contains("short-secret-xyz"),
        "the token is not echoed: {stderr}"
    );
}

#[tokio::test]
async fn with_metrics_bind_metrics_are_served_on_that_listener_only() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/q.db", dir.0.display());
    let metrics_port = free_port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(&url, &[("QUOTAPLANE_METRICS_BIND", &metrics_bind)]).await;
    let client = reqwest::Client::new();

    let main = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("GET");
    let private = client
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .expect("GET");

    assert_eq!(main.status(), 404);
    assert_eq!(private.status(), 200);
    assert!(private.text().await.expect("text").contains("quotaplane_"));
}
