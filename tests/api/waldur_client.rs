//! Waldur's own Python client (`waldur-api-client` from PyPI), unchanged, against the real
//! binary: `tests/waldur_client/drive.py` calls set_quota and usage and checks what it parses.
//! The interpreter is `QUOTAPLANE_WALDUR_PYTHON` (a virtual environment `.ci/run` makes); without
//! it the test is skipped, except under `CI=true`, where it fails.

use serde_json::json;
use uuid::Uuid;

use crate::process::Server;
use crate::support::{TempDir, body};

const TOKEN: &str = "waldur-client-operator-token-0123456789";

fn waldur_python() -> Option<String> {
    match std::env::var("QUOTAPLANE_WALDUR_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but QUOTAPLANE_WALDUR_PYTHON is not set: the Waldur client cannot run")
        }
        _ => {
            eprintln!("skipped: QUOTAPLANE_WALDUR_PYTHON is not set (see .ci/run)");
            None
        }
    }
}

/// `POST` as the operator (or `secret`), expecting `status`; the JSON answer.
async fn post(
    base: &str,
    secret: &str,
    path: &str,
    body_json: serde_json::Value,
    status: u16,
) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(secret)
        .json(&body_json)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), status, "{path}");
    body(response).await
}

#[tokio::test]
async fn the_waldur_python_client_sets_quotas_and_reads_usage_unchanged() {
    let Some(python) = waldur_python() else {
        return;
    };
    let dir = TempDir::new();
    let url = format!("sqlite://{}/waldur.db", dir.0.display());
    let server = Server::start(&url, &[("QUOTAPLANE_BOOTSTRAP_TOKEN", TOKEN)]).await;
    let base = server.base.clone();
    let tenant = post(&base, TOKEN, "/v1/tenants", json!({"name": "waldur"}), 201).await;
    let keys = format!(
        "/v1/tenants/{}/api-keys",
        tenant["id"].as_str().expect("id")
    );
    let staff = post(
        &base,
        TOKEN,
        &keys,
        json!({"roles": ["staff"], "user_id": Uuid::new_v4()}),
        201,
    )
    .await;
    let user_id = Uuid::new_v4();
    let user = post(
        &base,
        TOKEN,
        &keys,
        json!({"roles": ["user"], "user_id": user_id}),
        201,
    )
    .await;
    let user_secret = user["secret"].as_str().expect("secret");
    post(
        &base,
        user_secret,
        "/v1/usage/consume",
        json!({"subject": {"user": user_id.simple().to_string()}, "metric": "chat_tokens", "amount": 25}),
        200,
    )
    .await;

    let script = format!(
        "{}/tests/waldur_client/drive.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .env("QP_BASE", &base)
        .env("QP_STAFF_TOKEN", staff["secret"].as_str().expect("secret"))
        .env("QP_USER_TOKEN", user_secret)
        .env("QP_USER_UUID", user_id.to_string())
        .env("QP_CONSUMED", "25")
        .output()
        .await
        .expect("run the Waldur client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "drive.py failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.lines().last(), Some("OK"), "{stdout}\n{stderr}");
    drop(server);
}
