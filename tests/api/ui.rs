//! `/ui` in a real browser: Debian's `chromium` driven over WebDriver by `chromedriver` (both
//! found on `PATH`; `.ci/run` installs them). The test pastes a key, reads the limits table and a
//! usage bar's values, checks the key survives a reload (session storage), that a system key
//! chooses a tenant, and what the alerts and audit sections show. Without the browser it is
//! skipped, except under `CI=true`, where it fails. With `QUOTAPLANE_UI_SCREENSHOT=<file>` the
//! page's screenshot is written there (README's `docs/ui.png`).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quotaplane::app::Settings;
use serde_json::{Value, json};

use quotaplane::domain::clock::ManualClock;

use crate::support::{Backend, TempDir, TestApp, body, test_epoch};

/// An executable on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// chromedriver and the browser, or `None` (skip) outside CI.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path("chromedriver");
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    match (driver, chromium) {
        (Some(driver), Some(chromium)) => Some((driver, chromium)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but chromium and chromedriver are not on PATH: the browser test cannot run"
            )
        }
        _ => {
            eprintln!("skipped: chromium and chromedriver are not on PATH (see .ci/run)");
            None
        }
    }
}

/// A WebDriver session on a chromedriver this test started.
struct Browser {
    client: reqwest::Client,
    session: String,
    _driver: tokio::process::Child,
    _profile: TempDir,
}

impl Browser {
    async fn start(driver: &PathBuf, chromium: &PathBuf) -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = TempDir::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1500",
                         format!("--user-data-dir={}", profile.0.display())],
            }
        }}});
        let created: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            client,
            session: format!("{base}/session/{session}"),
            _driver: child,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, payload: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.session));
        if let Some(payload) = payload {
            request = request.json(&payload);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("JSON");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element `css` selects, waiting up to 20 s for it.
    async fn find(&self, css: &str) -> String {
        for _ in 0..200 {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found["element-6066-11e4-a52e-4f735466cecf"].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css}");
    }

    async fn text(&self, element: &str) -> String {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the element `css` selects has text containing `wanted`; that text.
    async fn text_with(&self, css: &str, wanted: &str) -> String {
        let mut last = String::new();
        for _ in 0..200 {
            let element = self.find(css).await;
            last = self.text(&element).await;
            if last.contains(wanted) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {wanted:?}; last: {last:?}");
    }

    async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/attribute/{name}"),
                None,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// A DOM property of the element (`textContent`, say), as a string.
    async fn property(&self, element: &str, name: &str) -> Option<String> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/property/{name}"),
                None,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("PNG")
    }

    async fn close(&self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

async fn consume(app: &TestApp, key: &str, metric: &str, amount: i64) {
    let request = json!({"subject": {"app": "web"}, "metric": metric, "amount": amount});
    let response = app.post("/v1/usage/consume", key, &request).await;
    assert_eq!(response.status(), 200, "consume {metric}");
}

async fn limit(app: &TestApp, key: &str, id: &str, metric: &str, amount: Value, window: &str) {
    let body = json!({"metric": metric, "amount": amount, "window": {"kind": window},
        "blocking": false});
    let response = app.put(&format!("/v1/limits/{id}"), key, &body).await;
    assert_eq!(response.status(), 201, "limit {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_limits_usage_bar_in_a_real_browser() {
    let Some((driver, chromium)) = browser() else {
        return;
    };
    // A test clock (`--test-clock`): the page reads the server's time from it for countdowns.
    let settings = Settings {
        webhook_allow_private: true,
        test_clock: Some(ManualClock::starting_at(test_epoch())),
        ..Settings::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, settings)
        .await
        .expect("server");
    let (tenant, admin) = app.tenant_with_admin().await;
    limit(&app, &admin, "api-calls", "requests", json!(10), "day").await;
    limit(
        &app,
        &admin,
        "llm-tokens",
        "tokens",
        json!(50000),
        "calendar_month",
    )
    .await;
    limit(
        &app,
        &admin,
        "exports",
        "exports",
        json!("unlimited"),
        "hour",
    )
    .await;
    // Yesterday's requests: one ended period for the history chart.
    consume(&app, &admin, "requests", 5).await;
    let moved = app
        .post(
            "/v1/test-clock",
            &app.system,
            &json!({"advance_seconds": 86_400}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    consume(&app, &admin, "requests", 8).await;
    consume(&app, &admin, "tokens", 12500).await;
    consume(&app, &admin, "exports", 3).await;
    let target = app
        .post(
            "/v1/alert-targets",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    let target = body(target).await["id"]
        .as_str()
        .expect("target")
        .to_owned();
    let rules = json!([{"threshold": {"percent": 50}, "target_id": target}]);
    assert_eq!(
        app.put("/v1/limits/llm-tokens/alerts", &admin, &rules)
            .await
            .status(),
        200
    );
    consume(&app, &admin, "tokens", 15000).await;

    let browser = Browser::start(&driver, &chromium).await;
    browser.open(&format!("{}/ui", app.base)).await;
    browser.type_into("#key", &admin).await;
    browser.click("#open").await;

    let row = browser
        .text_with("#limits tbody tr[data-limit='api-calls']", "8 / 10")
        .await;
    assert!(row.contains("requests"), "{row}");
    // The test clock says 10:15 UTC (a day after the epoch): a daily window resets in a little
    // under 13h 45m.
    assert!(row.contains("13h 4"), "the reset countdown: {row}");
    let bar = browser
        .find("#limits tr[data-limit='api-calls'] [role='progressbar']")
        .await;
    assert_eq!(
        browser.attribute(&bar, "aria-valuenow").await.as_deref(),
        Some("8")
    );
    assert_eq!(
        browser.attribute(&bar, "aria-valuemax").await.as_deref(),
        Some("10")
    );
    assert_eq!(
        browser.attribute(&bar, "aria-valuetext").await.as_deref(),
        Some("8 of 10 (80%)")
    );
    let tokens = browser
        .text_with("#limits tr[data-limit='llm-tokens']", "27500 / 50000")
        .await;
    assert!(tokens.contains("19d 13h"), "a month's countdown: {tokens}");
    browser
        .text_with("#limits tr[data-limit='exports']", "3 / unlimited")
        .await;
    browser.text_with("#alerts tbody", "llm-tokens").await;

    // The audit log shows the changes just made: the limits' creation and the alert rules'.
    browser.text_with("#audit tbody", "api-calls").await;
    browser
        .click("#limits tr[data-limit='api-calls'] button.history")
        .await;
    let history = browser.find("#history-status").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(browser.text(&history).await.contains("api-calls"));
    // Yesterday's period, as a bar of the chart whose title says what it held.
    let period = browser.find("#history-chart svg rect title").await;
    let said = browser
        .property(&period, "textContent")
        .await
        .unwrap_or_default();
    assert!(said.ends_with(": 5"), "yesterday's period held 5: {said}");

    if let Some(file) = std::env::var_os("QUOTAPLANE_UI_SCREENSHOT") {
        std::fs::write(file, browser.screenshot().await).expect("screenshot written");
    }
    assert!(browser.screenshot().await.starts_with(b"\x89PNG"));

    // The key is kept for the tab: a reload opens the page without pasting it again.
    browser.open(&format!("{}/ui", app.base)).await;
    browser
        .text_with("#limits tbody tr[data-limit='api-calls']", "8 / 10")
        .await;

    // A system key chooses the tenant.
    browser.click("#forget").await;
    browser.type_into("#key", &app.system).await;
    browser.click("#open").await;
    browser.find("#tenant-section:not([hidden])").await;
    browser
        .click(&format!("#tenant option[value='{tenant}']"))
        .await;
    browser
        .text_with("#limits tbody tr[data-limit='api-calls']", "8 / 10")
        .await;
    browser.text_with("#alerts-status", "not available").await;
    browser.close().await;
}
