//! The usage engine over HTTP: exact, all or nothing, windows, leases, idempotency, durability.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::process::Server;
use crate::support::{Backend, TestApp, body};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("instant")
        .with_timezone(&Utc)
}

impl TestApp {
    /// The limit `hot`: 1,000 units of metric `hot` for subject `k=v`, never reset (what
    /// [`hammer`] drives).
    pub(crate) async fn put_hot_limit(&self, admin: &str) {
        let hot = limit(json!({"k": "v"}), "hot", 1000, json!({"kind": "none"}));
        assert_eq!(self.put_limit(admin, "hot", hot).await.status(), 201);
    }

    pub(crate) async fn put_limit(&self, admin: &str, id: &str, limit: Value) -> reqwest::Response {
        self.put(&format!("/v1/limits/{id}"), admin, &limit).await
    }

    async fn consume(
        &self,
        key: &str,
        subject: Value,
        metric: &str,
        amount: i64,
    ) -> reqwest::Response {
        self.post(
            "/v1/usage/consume",
            key,
            &json!({"subject": subject, "metric": metric, "amount": amount}),
        )
        .await
    }

    pub(crate) async fn used(&self, key: &str, id: &str) -> i64 {
        let limit = body(self.get(&format!("/v1/limits/{id}"), key).await).await;
        limit["usage"]["used"].as_i64().unwrap_or(-1)
    }
}

pub(crate) fn limit(subject: Value, metric: &str, amount: i64, window: Value) -> Value {
    json!({"subject": subject, "metric": metric, "amount": amount, "window": window})
}

on_both_backends! {
    async fn a_consume_counts_against_every_applying_limit_or_none(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_limit(&admin, "org", limit(json!({"org": "o1"}), "tokens", 10, json!({"kind": "none"}))).await;
        app.put_limit(&admin, "user", limit(json!({"org": "o1", "user": "u1"}), "tokens", 3, json!({"kind": "none"}))).await;
        app.put_limit(&admin, "other", limit(json!({"user": "u2"}), "tokens", 1, json!({"kind": "none"}))).await;
        let who = json!({"org": "o1", "user": "u1"});
        let admitted = app.consume(&admin, who.clone(), "tokens", 2).await;
        assert_eq!(admitted.status(), 200);
        let admitted = body(admitted).await;
        let ids: Vec<&str> = admitted["limits"].as_array().into_iter().flatten().filter_map(|l| l["quota_id"].as_str()).collect();
        assert_eq!(ids, vec!["org", "user"]);
        let refused = app.consume(&admin, who.clone(), "tokens", 2).await;
        assert_eq!(refused.status(), 429);
        let refused = body(refused).await;
        assert_eq!(refused["allowed"], false);
        assert_eq!(refused["limits"].as_array().map(Vec::len), Some(1), "only the refusing limit: {refused}");
        assert_eq!(refused["limits"][0]["quota_id"], "user");
        assert_eq!(app.used(&admin, "org").await, 2, "nothing counted when refused");
        assert_eq!(app.used(&admin, "user").await, 2);
    }

    async fn check_never_changes_a_counter_and_report_sets_a_gauge(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_limit(&admin, "seats", limit(json!({"team": "t"}), "seats", 5, json!({"kind": "none"}))).await;
        let checked = app.post("/v1/usage/check", &admin, &json!({"subject": {"team": "t"}, "metric": "seats", "amount": 5})).await;
        assert_eq!(checked.status(), 200);
        assert_eq!(app.used(&admin, "seats").await, 0);
        let reported = app.post("/v1/usage/report", &admin, &json!({"subject": {"team": "t"}, "metric": "seats", "value": 4})).await;
        assert_eq!(reported.status(), 200);
        assert_eq!(app.used(&admin, "seats").await, 4);
        let too_many = app.post("/v1/usage/check", &admin, &json!({"subject": {"team": "t"}, "metric": "seats", "amount": 2})).await;
        assert_eq!(too_many.status(), 429);
        app.post("/v1/usage/report", &admin, &json!({"subject": {"team": "t"}, "metric": "seats", "value": 9})).await;
        assert_eq!(app.used(&admin, "seats").await, 9, "a report is never refused");
    }

    async fn a_non_blocking_limit_counts_but_never_refuses(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let mut soft = limit(json!({}), "calls", 1, json!({"kind": "none"}));
        soft["blocking"] = json!(false);
        app.put_limit(&admin, "soft", soft).await;
        for _ in 0..3 {
            assert_eq!(app.consume(&admin, json!({"any": "one"}), "calls", 1).await.status(), 200);
        }
        assert_eq!(app.used(&admin, "soft").await, 3);
    }

    async fn only_admins_define_limits_and_any_key_consumes(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let user = app.key_for(&tenant, &["user"], None).await;
        let definition = limit(json!({}), "m", 1, json!({"kind": "none"}));
        assert_eq!(app.put_limit(&user, "l", definition.clone()).await.status(), 403);
        assert_eq!(app.put_limit(&admin, "l", definition.clone()).await.status(), 201);
        assert_eq!(app.put_limit(&admin, "l", definition).await.status(), 200);
        assert_eq!(app.consume(&user, json!({}), "m", 1).await.status(), 200);
        assert_eq!(app.delete("/v1/limits/l", &user).await.status(), 403);
        assert_eq!(app.delete("/v1/limits/l", &admin).await.status(), 204);
        assert_eq!(app.get("/v1/limits/l", &admin).await.status(), 404);
    }

    async fn a_limit_moved_to_another_metric_stops_applying_to_the_old_one_at_once(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_limit(&admin, "l", limit(json!({}), "old", 1, json!({"kind": "none"}))).await;
        assert_eq!(app.consume(&admin, json!({}), "old", 1).await.status(), 200);
        assert_eq!(app.consume(&admin, json!({}), "old", 1).await.status(), 429);
        app.put_limit(&admin, "l", limit(json!({}), "new", 1, json!({"kind": "none"}))).await;
        assert_eq!(app.consume(&admin, json!({}), "old", 1).await.status(), 200);
        assert_eq!(app.consume(&admin, json!({}), "new", 1).await.status(), 429, "usage kept");
        assert_eq!(app.delete("/v1/limits/l", &admin).await.status(), 204);
        assert_eq!(app.consume(&admin, json!({}), "new", 1).await.status(), 200);
    }

    async fn tenants_never_see_or_spend_each_others_limits(app) {
        let (_, admin_a) = app.tenant_with_admin().await;
        let (_, admin_b) = app.tenant_with_admin().await;
        app.put_limit(&admin_a, "shared-name", limit(json!({}), "m", 1, json!({"kind": "none"}))).await;
        assert_eq!(app.get("/v1/limits/shared-name", &admin_b).await.status(), 404);
        assert_eq!(app.consume(&admin_b, json!({}), "m", 1).await.status(), 200);
        assert_eq!(app.used(&admin_a, "shared-name").await, 0);
        assert_eq!(app.delete("/v1/limits/shared-name", &admin_b).await.status(), 404);
    }

    async fn bad_limits_and_usage_are_422_with_the_field(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let cases = [
            (limit(json!({}), "m", -5, json!({"kind": "none"})), "/amount"),
            (limit(json!({}), "m", 1, json!({"kind": "fortnight"})), "/window/kind"),
            (limit(json!({}), "m", 1, json!({"kind": "anchored", "interval_seconds": 60})), "/window/from"),
            (limit(json!({}), "", 1, json!({"kind": "none"})), "/metric"),
        ];
        for (definition, pointer) in cases {
            let response = app.put_limit(&admin, "x", definition).await;
            assert_eq!(response.status(), 422);
            assert_eq!(body(response).await["errors"][0]["pointer"], pointer);
        }
        let negative = app.consume(&admin, json!({}), "m", -1).await;
        assert_eq!(negative.status(), 422);
        assert_eq!(body(negative).await["errors"][0]["pointer"], "/amount");
        let unbounded = app.post("/v1/leases", &admin, &json!({"subject": {}, "metric": "m", "amount": 1, "ttl_seconds": 0})).await;
        assert_eq!(unbounded.status(), 422);
    }

    async fn the_same_idempotency_key_replays_the_first_decision(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_limit(&admin, "l", limit(json!({}), "m", 10, json!({"kind": "none"}))).await;
        let request = json!({"subject": {"u": "1"}, "metric": "m", "amount": 4});
        let mut first = None;
        for _ in 0..3 {
            let response = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
                .header("Idempotency-Key", "order-77").json(&request).send().await.expect("consume");
            assert_eq!(response.status(), 200);
            let decision = body(response).await;
            first.get_or_insert(decision.clone());
            assert_eq!(Some(&decision), first.as_ref());
        }
        assert_eq!(app.used(&admin, "l").await, 4, "replays consume nothing");
        let different = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
            .header("Idempotency-Key", "order-77")
            .json(&json!({"subject": {"u": "1"}, "metric": "m", "amount": 5})).send().await.expect("consume");
        assert_eq!(different.status(), 422);
        app.clock.advance(TimeDelta::hours(25));
        let later = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
            .header("Idempotency-Key", "order-77").json(&request).send().await.expect("consume");
        assert_eq!(later.status(), 200);
        assert_eq!(app.used(&admin, "l").await, 8, "after 24 hours the key is new again");
    }

    async fn leases_hold_units_until_released_or_expired(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_limit(&admin, "slots", limit(json!({"svc": "s"}), "concurrent", 2, json!({"kind": "none"}))).await;
        let lease = json!({"subject": {"svc": "s"}, "metric": "concurrent", "amount": 1, "ttl_seconds": 30});
        let first = app.post("/v1/leases", &admin, &lease).await;
        assert_eq!(first.status(), 201);
        let first = body(first).await;
        assert!(first["expires_at"].as_str().is_some_and(|s| s.starts_with("2026-03-11T10:15:30")), "{first}");
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201);
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 429);
        let id = first["id"].as_str().unwrap_or_default();
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 204);
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 404);
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201);
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 429);
        app.clock.advance(TimeDelta::seconds(31));
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201, "expired leases free their units");
        assert_eq!(app.used(&admin, "slots").await, 1);
    }

    async fn every_window_resets_exactly_at_its_boundary(app) {
        let (_, admin) = app.tenant_with_admin().await;
        // The clock starts at 2026-03-11T10:15:00Z, a Wednesday.
        let windows = [
            (json!({"kind": "second"}), "2026-03-11T10:15:01Z"),
            (json!({"kind": "minute"}), "2026-03-11T10:16:00Z"),
            (json!({"kind": "hour"}), "2026-03-11T11:00:00Z"),
            (json!({"kind": "day"}), "2026-03-12T00:00:00Z"),
            (json!({"kind": "calendar_day"}), "2026-03-12T00:00:00Z"),
            (json!({"kind": "calendar_week"}), "2026-03-16T00:00:00Z"),
            (json!({"kind": "calendar_month"}), "2026-04-01T00:00:00Z"),
            (json!({"kind": "anchored", "from": "2026-03-01T09:00:00Z", "interval_seconds": 7 * 86400}), "2026-03-15T09:00:00Z"),
        ];
        for (i, (window, reset)) in windows.into_iter().enumerate() {
            app.clock.set(crate::support::test_epoch());
            let metric = format!("w{i}");
            let created = app.put_limit(&admin, &metric, limit(json!({}), &metric, 1, window.clone())).await;
            assert_eq!(created.status(), 201);
            assert_eq!(body(created).await["usage"]["reset_at"], reset, "{window}");
            assert_eq!(app.consume(&admin, json!({}), &metric, 1).await.status(), 200);
            let refused = app.consume(&admin, json!({}), &metric, 1).await;
            assert_eq!(refused.status(), 429, "{window}");
            assert!(refused.headers().contains_key("retry-after"));
            app.clock.set(at(reset) - TimeDelta::milliseconds(1));
            assert_eq!(app.consume(&admin, json!({}), &metric, 1).await.status(), 429, "just before {reset}");
            app.clock.set(at(reset));
            assert_eq!(app.consume(&admin, json!({}), &metric, 1).await.status(), 200, "at {reset}");
        }
    }

    async fn many_concurrent_clients_never_pass_a_blocking_limit(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.put_hot_limit(&admin).await;
        let admitted = hammer(&app.base, &admin, 64, 5000).await;
        assert_eq!(admitted, 1000);
        assert_eq!(app.used(&admin, "hot").await, 1000);
    }
}

/// `clients` concurrent clients make `attempts` consumes of 1 in all; returns how many were admitted.
pub(crate) async fn hammer(base: &str, key: &str, clients: usize, attempts: usize) -> usize {
    let admitted = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (admitted, next, client) = (admitted.clone(), next.clone(), client.clone());
            let url = format!("{base}/v1/usage/consume");
            let key = key.to_owned();
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < attempts {
                    let response = client
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"subject": {"k": "v"}, "metric": "hot", "amount": 1}))
                        .send()
                        .await
                        .expect("consume");
                    match response.status() {
                        StatusCode::OK => {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                        StatusCode::TOO_MANY_REQUESTS => {}
                        other => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    admitted.load(Ordering::SeqCst)
}

crate::on_both_databases! {
    async fn acknowledged_usage_survives_kill_9(database_url: &str) {
        let env = [(
            "QUOTAPLANE_BOOTSTRAP_TOKEN",
            "durability-token-0123456789abcdefghij",
        )];
        let server = Server::start(database_url, &env).await;
        let client = reqwest::Client::new();
        let token = "durability-token-0123456789abcdefghij";
        let tenant = body(
            client
                .post(format!("{}/v1/tenants", server.base))
                .bearer_auth(token)
                .json(&json!({"name": "durable"}))
                .send()
                .await
                .expect("tenant"),
        )
        .await;
        let key = body(
            client
                .post(format!(
                    "{}/v1/tenants/{}/api-keys",
                    server.base,
                    tenant["id"].as_str().unwrap_or_default()
                ))
                .bearer_auth(token)
                .json(&json!({"roles": ["admin"]}))
                .send()
                .await
                .expect("key"),
        )
        .await;
        let admin = key["secret"].as_str().unwrap_or_default().to_owned();
        let put = client
            .put(format!("{}/v1/limits/total", server.base))
            .bearer_auth(&admin)
            .json(&limit(json!({}), "m", 1_000_000, json!({"kind": "none"})))
            .send()
            .await
            .expect("limit");
        assert_eq!(put.status(), 201);
        let mut acknowledged = 0;
        for _ in 0..50 {
            let r = client
                .post(format!("{}/v1/usage/consume", server.base))
                .bearer_auth(&admin)
                .json(&json!({"subject": {}, "metric": "m", "amount": 3}))
                .send()
                .await
                .expect("consume");
            if r.status() == 200 {
                acknowledged += 3;
            }
        }
        let mut server = server;
        server.child.start_kill().expect("SIGKILL");
        let _ = server.child.wait().await;
        let restarted = Server::start(database_url, &env).await;
        let limit = body(
            client
                .get(format!("{}/v1/limits/total", restarted.base))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("limit"),
        )
        .await;
        assert_eq!(limit["usage"]["used"], acknowledged);
    }
}

#[tokio::test]
async fn sixty_four_clients_on_sqlite_with_a_high_rate_limit() {
    // The per-key rate limit must not be what refuses: raise it and hammer a fresh limit.
    let settings = quotaplane::app::Settings {
        rate_limit_requests: 1_000_000,
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, settings)
        .await
        .expect("sqlite");
    let (_, admin) = app.tenant_with_admin().await;
    app.put_hot_limit(&admin).await;
    assert_eq!(hammer(&app.base, &admin, 64, 5000).await, 1000);
}
