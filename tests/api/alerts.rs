//! Alerts on any limit: webhook targets, alert rules in percent and units, repeat, the reset
//! event of a period that rolls over with usage, Standard Webhooks signatures checked by a real
//! receiver on 127.0.0.1, refused target URLs, tenants kept apart, and the deliveries list.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use quotaplane::app::Settings;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{TestApp, body};
use crate::{on_both_backends, on_both_backends_with};

/// One call the receiver got: its headers (lower-case names) and raw body.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Call {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// A webhook receiver on 127.0.0.1 that keeps every call.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let mut receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        receiver.url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let calls = receiver.calls.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let calls = calls.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    calls.lock().expect("lock").push(Call {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body,
                    });
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// Waits (up to 20 s) for at least `n` calls; then a little longer, so that a call too many
    /// would show.
    async fn wait_for(&self, n: usize) -> Vec<Call> {
        for _ in 0..200 {
            if self.calls().len() >= n {
                tokio::time::sleep(Duration::from_millis(700)).await;
                return self.calls();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {n} calls; got {:?}", self.calls());
    }
}

/// Whether `call` carries a valid Standard Webhooks signature under `secret` (`whsec_…`).
fn signed_by(call: &Call, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", call.id, call.timestamp, call.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    call.signature.split(' ').any(|s| s == expected)
}

fn allow_private() -> Settings {
    Settings {
        webhook_allow_private: true,
        ..Settings::default()
    }
}

impl TestApp {
    /// `POST /v1/alert-targets`: the answer.
    async fn create_target(&self, key: &str, url: &str) -> reqwest::Response {
        self.post("/v1/alert-targets", key, &json!({ "url": url }))
            .await
    }

    /// A new target: (id, secret).
    async fn target(&self, key: &str, url: &str) -> (String, String) {
        let response = self.create_target(key, url).await;
        assert_eq!(response.status(), 201, "create target");
        let created = body(response).await;
        let field = |name: &str| created[name].as_str().expect(name).to_owned();
        (field("id"), field("secret"))
    }

    async fn put_alerts(&self, key: &str, limit: &str, rules: Value) -> reqwest::Response {
        self.put(&format!("/v1/limits/{limit}/alerts"), key, &rules)
            .await
    }

    /// A native limit on metric `m` for every subject.
    async fn native_limit(&self, key: &str, id: &str, amount: Value, window: &str) {
        let limit = json!({"metric": "m", "amount": amount, "window": {"kind": window},
            "blocking": false});
        let response = self.put(&format!("/v1/limits/{id}"), key, &limit).await;
        assert_eq!(response.status(), 201, "create limit");
    }

    /// Consumes one unit of `m`, `n` times.
    async fn consume_units(&self, key: &str, n: usize) {
        for _ in 0..n {
            let response = self
                .post(
                    "/v1/usage/consume",
                    key,
                    &json!({"subject": {"app": "a"}, "metric": "m", "amount": 1}),
                )
                .await;
            assert_eq!(response.status(), 200, "consume");
        }
    }
}

on_both_backends_with! {
    settings = allow_private();

    async fn an_80_percent_alert_on_a_native_limit_fires_once_with_a_valid_signature(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, secret) = app.target(&admin, &receiver.url).await;
        app.native_limit(&admin, "calls", json!(10), "day").await;
        let rules = json!([{"id": "eighty", "threshold": {"percent": 80}, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "calls", rules).await.status(), 200);

        app.consume_units(&admin, 7).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(receiver.calls().is_empty(), "nothing is due at 70%");
        app.consume_units(&admin, 5).await;

        let calls = receiver.wait_for(1).await;
        assert_eq!(calls.len(), 1, "once per period: {calls:?}");
        assert!(signed_by(&calls[0], &secret), "the signature verifies: {:?}", calls[0]);
        assert!(!signed_by(&calls[0], "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        let event = calls[0].event();
        assert_eq!(event["type"], "limit.threshold_reached");
        assert_eq!(event["data"]["limit_id"], "calls");
        assert_eq!(event["data"]["rule_id"], "eighty");
        assert_eq!(event["data"]["threshold"], json!({"percent": 80}));
        assert_eq!(event["data"]["used"], 8);
        assert_eq!(event["data"]["limit"], 10);
        let age = chrono::Utc::now().timestamp() - calls[0].timestamp.parse::<i64>().expect("ts");
        assert!(age.abs() < 60, "webhook-timestamp is unix seconds, now");

        let listed = body(app.get("/v1/alerts", &admin).await).await;
        let listed = listed.as_array().expect("array");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"].as_str(), Some(calls[0].id.as_str()), "webhook-id is the delivery's id");
        assert_eq!(listed[0]["status"], "delivered");
        assert_eq!(listed[0]["kind"], "alert");
        assert_eq!(listed[0]["attempts"], 1);
        assert_eq!(listed[0]["event"]["data"]["used"], 8);
    }

    async fn absolute_thresholds_fire_once_or_at_every_multiple_with_repeat(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, _) = app.target(&admin, &receiver.url).await;
        app.native_limit(&admin, "tokens", json!("unlimited"), "day").await;
        let rules = json!([
            {"id": "every-five", "threshold": {"units": 5}, "repeat": true, "target_id": target},
            {"id": "three", "threshold": {"units": 3}, "target_id": target},
        ]);
        let answer = app.put_alerts(&admin, "tokens", rules).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(body(answer).await[0]["threshold"], json!({"units": 5}));

        app.consume_units(&admin, 12).await;

        let calls = receiver.wait_for(3).await;
        let mut fired: Vec<(String, Value)> = calls
            .iter()
            .map(|c| {
                let e = c.event();
                (e["data"]["rule_id"].as_str().unwrap_or_default().to_owned(),
                 e["data"]["threshold"].clone())
            })
            .collect();
        fired.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.to_string().cmp(&b.1.to_string())));
        assert_eq!(fired, vec![
            ("every-five".to_owned(), json!({"units": 10})),
            ("every-five".to_owned(), json!({"units": 5})),
            ("three".to_owned(), json!({"units": 3})),
        ]);
        let got = body(app.get("/v1/limits/tokens/alerts", &admin).await).await;
        assert_eq!(got.as_array().map(Vec::len), Some(2), "GET answers the rules: {got}");
    }

    async fn a_percent_rule_with_repeat_fires_again_every_further_hundred(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, _) = app.target(&admin, &receiver.url).await;
        app.native_limit(&admin, "soft", json!(4), "day").await;
        let rules = json!([{"threshold": {"percent": 50}, "repeat": true, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "soft", rules).await.status(), 200);

        app.consume_units(&admin, 11).await;

        let calls = receiver.wait_for(3).await;
        // Deliveries claimed together go out concurrently, so they may arrive in any order.
        let mut percents: Vec<u64> = calls
            .iter()
            .map(|c| c.event()["data"]["threshold"]["percent"].as_u64().expect("a percent threshold"))
            .collect();
        percents.sort_unstable();
        assert_eq!(percents, vec![50, 150, 250]);
    }

    async fn a_reset_event_follows_a_period_that_had_usage(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, secret) = app.target(&admin, &receiver.url).await;
        app.native_limit(&admin, "hourly", json!(100), "hour").await;
        let rules = json!([{"threshold": {"percent": 90}, "target_id": target},
                           {"threshold": {"units": 50}, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "hourly", rules).await.status(), 200);
        app.consume_units(&admin, 3).await;

        app.clock.advance(TimeDelta::hours(1));
        app.consume_units(&admin, 2).await;

        let calls = receiver.wait_for(1).await;
        assert_eq!(calls.len(), 1, "one reset per target and period: {calls:?}");
        assert!(signed_by(&calls[0], &secret));
        let event = calls[0].event();
        assert_eq!(event["type"], "limit.period_reset");
        assert_eq!(event["data"]["limit_id"], "hourly");
        assert_eq!(event["data"]["previous_used"], 3);

        // Two periods later, the period just before had no usage: no reset.
        app.clock.advance(TimeDelta::hours(2));
        app.consume_units(&admin, 1).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(receiver.calls().len(), 1, "no reset after an empty period");
        let listed = body(app.get("/v1/alerts", &admin).await).await;
        assert_eq!(listed[0]["kind"], "reset");
        assert_eq!(listed[0]["used"], 3);
    }

    async fn eighty_and_a_hundred_percent_fire_exactly_once_under_64_concurrent_consumers(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, secret) = app.target(&admin, &receiver.url).await;
        let limit = json!({"metric": "m", "amount": 64, "window": {"kind": "day"}});
        assert_eq!(app.put("/v1/limits/shared", &admin, &limit).await.status(), 201);
        let rules = json!([{"id": "p80", "threshold": {"percent": 80}, "target_id": target},
                           {"id": "p100", "threshold": {"percent": 100}, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "shared", rules).await.status(), 200);

        let consumers: Vec<_> = (0..64)
            .map(|_| {
                let request = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
                    .json(&json!({"subject": {"app": "a"}, "metric": "m", "amount": 1}));
                tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
            })
            .collect();
        for consumer in consumers {
            assert_eq!(consumer.await.expect("task").expect("consume"), 200);
        }

        let calls = receiver.wait_for(2).await;
        assert_eq!(calls.len(), 2, "each threshold once: {calls:?}");
        let mut fired: Vec<(String, i64)> = calls
            .iter()
            .map(|c| {
                assert!(signed_by(c, &secret));
                let e = c.event();
                (e["data"]["rule_id"].as_str().unwrap_or_default().to_owned(),
                 e["data"]["used"].as_i64().unwrap_or_default())
            })
            .collect();
        fired.sort();
        assert_eq!(fired[0].0, "p100");
        assert_eq!(fired[0].1, 64);
        assert_eq!(fired[1].0, "p80");
        assert!((52..64).contains(&fired[1].1), "80% of 64 reached at 52: {fired:?}");
    }

    async fn an_unreachable_target_is_retried_then_dead_lettered(app) {
        let closed = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr")
        };
        let (_, admin) = app.tenant_with_admin().await;
        let (target, _) = app.target(&admin, &format!("http://{closed}/hook")).await;
        app.native_limit(&admin, "l", json!(10), "day").await;
        let rules = json!([{"threshold": {"units": 1}, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "l", rules).await.status(), 200);
        app.consume_units(&admin, 1).await;

        let mut listed = Value::Null;
        for _ in 0..200 {
            listed = body(app.get("/v1/alerts", &admin).await).await;
            if listed[0]["attempts"].as_i64().unwrap_or(0) >= 3 {
                break;
            }
            app.clock.advance(TimeDelta::seconds(10));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(listed[0]["attempts"].as_i64().unwrap_or(0) >= 3, "retried: {listed}");
        assert_eq!(listed[0]["status"], "pending");
        assert!(listed[0]["last_error"].as_str().is_some_and(|e| e.contains("request failed")));

        let store = quotaplane::store::AnyStore::connect(&app.database_url).await.expect("store");
        let retention = quotaplane::domain::retention::Retention {
            outbox_max_attempts: 3,
            ..Default::default()
        };
        use quotaplane::domain::{clock::Clock as _, retention::RetentionStore};
        let swept = store.sweep_retained(app.clock.now().timestamp_millis(), &retention).await
            .expect("sweep");
        assert_eq!(swept.dead_lettered, 1);
        let listed = body(app.get("/v1/alerts", &admin).await).await;
        assert_eq!(listed[0]["status"], "failed", "dead-lettered: {listed}");
    }

    async fn another_tenant_can_neither_see_nor_use_your_targets(app) {
        let receiver = Receiver::start().await;
        let (_, admin) = app.tenant_with_admin().await;
        let (target, _) = app.target(&admin, &receiver.url).await;
        let (_, other) = app.tenant_with_admin().await;

        let listed = body(app.get("/v1/alert-targets", &other).await).await;
        assert_eq!(listed, json!([]));
        app.native_limit(&other, "theirs", json!(10), "day").await;
        let rules = json!([{"threshold": {"percent": 80}, "target_id": target}]);
        let refused = app.put_alerts(&other, "theirs", rules).await;
        assert_eq!(refused.status(), 422);
        assert_eq!(body(refused).await["errors"][0]["pointer"], "/0/target_id");
        assert_eq!(app.delete(&format!("/v1/alert-targets/{target}"), &other).await.status(), 404);
        assert_eq!(app.get("/v1/limits/theirs/alerts", &admin).await.status(), 404);
        assert_eq!(body(app.get("/v1/alert-targets", &admin).await).await.as_array().map(Vec::len), Some(1));
    }

    async fn the_secret_is_shown_once_and_never_listed(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let (target, secret) = app.target(&admin, "http://127.0.0.1:9/hook").await;
        assert!(secret.starts_with("whsec_"));
        assert!(STANDARD.decode(&secret["whsec_".len()..]).is_ok_and(|k| k.len() == 32));
        let listed = body(app.get("/v1/alert-targets", &admin).await).await;
        assert_eq!(listed[0]["id"], target.as_str());
        assert_eq!(listed[0]["url"], "http://127.0.0.1:9/hook");
        assert!(listed[0].get("secret").is_none(), "no secret in the list: {listed}");
        assert!(!listed.to_string().contains(&secret["whsec_".len()..]));
    }

    async fn a_target_in_use_cannot_be_deleted_and_rules_are_bounded(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let (target, _) = app.target(&admin, "http://127.0.0.1:9/hook").await;
        app.native_limit(&admin, "l", json!(10), "day").await;
        let one = json!({"threshold": {"percent": 80}, "target_id": target});
        let eleven: Vec<Value> = (0..11).map(|_| one.clone()).collect();
        assert_eq!(app.put_alerts(&admin, "l", json!(eleven)).await.status(), 422);
        assert_eq!(app.put_alerts(&admin, "l", json!([one])).await.status(), 200);
        let path = format!("/v1/alert-targets/{target}");
        assert_eq!(app.delete(&path, &admin).await.status(), 409);
        assert_eq!(app.put_alerts(&admin, "l", json!([])).await.status(), 200);
        assert_eq!(app.delete(&path, &admin).await.status(), 204);
        assert_eq!(app.put_alerts(&admin, "missing", json!([])).await.status(), 404);
    }
}

on_both_backends! {
    async fn a_target_url_that_is_not_public_http_is_refused(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        for url in ["ftp://hooks.example/q", "hooks.example/q", "http://127.0.0.1:8080/q",
                    "http://[::1]/q", "http://10.0.0.1/q"] {
            let refused = app.create_target(&admin, url).await;
            assert_eq!(refused.status(), 422, "{url}");
            assert_eq!(body(refused).await["errors"][0]["pointer"], "/url", "{url}");
        }
        let user = app.key_for(&tenant, &["user"], None).await;
        assert_eq!(app.create_target(&user, "https://hooks.example/q").await.status(), 403);
        assert_eq!(app.get("/v1/alerts", &user).await.status(), 403);
    }

    async fn the_deliveries_list_is_paged_newest_first(app) {
        let (_, admin) = app.tenant_with_admin().await;
        // A host that never resolves publicly: the events stay pending or fail, and are listed.
        let (target, _) = app.target(&admin, "https://hooks.example/q").await;
        app.native_limit(&admin, "l", json!(10), "day").await;
        let rules = json!([{"id": "a", "threshold": {"units": 1}, "target_id": target},
                           {"id": "b", "threshold": {"units": 2}, "target_id": target}]);
        assert_eq!(app.put_alerts(&admin, "l", rules).await.status(), 200);
        app.consume_units(&admin, 1).await;
        app.clock.advance(TimeDelta::seconds(1));
        app.consume_units(&admin, 1).await;
        let first = app.get("/v1/alerts?limit=1", &admin).await;
        let link = first.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_owned)
            .expect("a next page");
        let first = body(first).await;
        assert_eq!(first[0]["rule_id"], "b", "newest first");
        let next = link.split(['<', '>']).nth(1).expect("url").to_owned();
        let path = next.trim_start_matches(&app.base).to_owned();
        let second = body(app.get(&path, &admin).await).await;
        assert_eq!(second[0]["rule_id"], "a");
        assert!(["pending", "failed"].contains(&second[0]["status"].as_str().unwrap_or_default()));
    }
}
