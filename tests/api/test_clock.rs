//! CI mode: `--test-clock` moves every window, expiry and reset with `POST /v1/test-clock`, and
//! `POST /v1/test-reset` forgets usage between test cases.

use quotaplane::app::Settings;
use quotaplane::domain::clock::ManualClock;
use serde_json::{Value, json};

use crate::support::{TestApp, body, test_epoch};
use crate::{on_both_backends, on_both_backends_with};

/// Settings of a server started with `--test-clock`, standing at the test epoch.
fn with_test_clock() -> Settings {
    Settings {
        test_clock: Some(ManualClock::starting_at(test_epoch())),
        ..Settings::default()
    }
}

/// Defines a limit of `amount` per `window` on its own metric, named like the limit.
async fn limit(app: &TestApp, admin: &str, id: &str, amount: i64, window: &str) {
    let body = json!({"subject": {}, "metric": id, "amount": amount, "window": {"kind": window}});
    let response = app.put(&format!("/v1/limits/{id}"), admin, &body).await;
    assert!(
        response.status().is_success(),
        "put limit {id}: {}",
        response.status()
    );
}

/// The status of consuming one unit of `metric`.
async fn consume_one(app: &TestApp, key: &str, metric: &str) -> u16 {
    let usage = json!({"subject": {}, "metric": metric, "amount": 1});
    app.post("/v1/usage/consume", key, &usage)
        .await
        .status()
        .as_u16()
}

/// Moves the server's clock with `POST /v1/test-clock`; the instant it answers.
async fn move_clock(app: &TestApp, to: Value) -> String {
    let response = app.post("/v1/test-clock", &app.system, &to).await;
    assert_eq!(response.status(), 200, "move the test clock to {to}");
    body(response).await["now"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

on_both_backends_with! {
    settings = with_test_clock();

    async fn the_test_clock_rolls_daily_weekly_and_calendar_month_windows(app) {
        let (_, admin) = app.tenant_with_admin().await;
        limit(&app, &admin, "daily", 1, "calendar_day").await;
        limit(&app, &admin, "weekly", 1, "calendar_week").await;
        limit(&app, &admin, "monthly", 1, "calendar_month").await;
        for metric in ["daily", "weekly", "monthly"] {
            assert_eq!(consume_one(&app, &admin, metric).await, 200, "{metric}: first unit");
        }
        let refused = app.post("/v1/usage/consume", &admin, &json!({"subject": {}, "metric": "daily", "amount": 1})).await;
        assert_eq!(refused.status(), 429);
        // 10:15 to midnight, by the server's clock.
        assert_eq!(refused.headers()["retry-after"], "49500");

        // Wednesday 23:59:59 -> Thursday: only the day rolls.
        move_clock(&app, json!({"now": "2026-03-11T23:59:59Z"})).await;
        assert_eq!(consume_one(&app, &admin, "daily").await, 429, "still Wednesday");
        assert_eq!(move_clock(&app, json!({"advance_seconds": 1})).await, "2026-03-12T00:00:00Z");
        assert_eq!(consume_one(&app, &admin, "daily").await, 200, "a new day");
        assert_eq!(consume_one(&app, &admin, "weekly").await, 429, "the same week");

        // Monday: the week rolls, the month does not.
        move_clock(&app, json!({"now": "2026-03-16T00:00:00Z"})).await;
        assert_eq!(consume_one(&app, &admin, "weekly").await, 200, "a new week");
        assert_eq!(consume_one(&app, &admin, "monthly").await, 429, "the same month");

        // The first of April: the month rolls.
        move_clock(&app, json!({"now": "2026-04-01T00:00:00Z"})).await;
        assert_eq!(consume_one(&app, &admin, "monthly").await, 200, "a new month");
    }

    async fn a_daily_waldur_limit_resets_when_the_test_clock_passes_midnight(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let user = uuid::Uuid::new_v4();
        let staff = app.key_for(&tenant, &["staff"], None).await;
        let alice = app.key_for(&tenant, &["user"], Some(user)).await;
        let set = app.request(reqwest::Method::POST, "/api/chat-quota/set_quota/", &staff)
            .json(&json!({"user_uuid": user, "daily_limit": 100})).send().await.expect("set_quota");
        assert_eq!(set.status(), 200);
        let tokens = |amount: i64| json!({"subject": {"user": user.to_string()}, "metric": "chat_tokens", "amount": amount});
        assert_eq!(app.post("/v1/usage/consume", &alice, &tokens(100)).await.status(), 200);
        assert_eq!(app.post("/v1/usage/consume", &alice, &tokens(1)).await.status(), 429, "the day's 100 are spent");
        move_clock(&app, json!({"now": "2026-03-12T00:00:00Z"})).await;
        assert_eq!(app.post("/v1/usage/consume", &alice, &tokens(1)).await.status(), 200, "a new day, no waiting");
        let usage = app.request(reqwest::Method::GET, "/api/chat-quota/usage/", &alice).send().await.expect("usage");
        let usage = body(usage).await;
        assert_eq!(usage["daily_usage"], 1);
        assert_eq!(usage["weekly_usage"], 101, "the week goes on");
    }

    async fn the_test_clock_expires_a_lease(app) {
        let (_, admin) = app.tenant_with_admin().await;
        limit(&app, &admin, "slots", 1, "none").await;
        let lease = json!({"subject": {}, "metric": "slots", "amount": 1, "ttl_seconds": 60});
        let granted = app.post("/v1/leases", &admin, &lease).await;
        assert_eq!(granted.status(), 201);
        assert_eq!(body(granted).await["expires_at"], "2026-03-11T10:16:00Z");
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 429, "the slot is held");
        move_clock(&app, json!({"advance_seconds": 59})).await;
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 429, "not yet expired");
        move_clock(&app, json!({"advance_seconds": 1})).await;
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201, "expired, so free again");
    }

    async fn the_test_clock_reads_the_servers_instant_and_never_moves_back(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let read = body(app.get("/v1/test-clock", &admin).await).await;
        assert_eq!(read["now"], "2026-03-11T10:15:00Z");
        let back = app.post("/v1/test-clock", &app.system, &json!({"now": "2026-03-11T10:14:59Z"})).await;
        assert_eq!(back.status(), 422);
        assert_eq!(body(back).await["errors"][0]["pointer"], "/now");
        let both = app.post("/v1/test-clock", &app.system, &json!({"now": "2026-03-12T00:00:00Z", "advance_seconds": 1})).await;
        assert_eq!(both.status(), 422, "exactly one of the two");
        let by_admin = app.post("/v1/test-clock", &admin, &json!({"advance_seconds": 1})).await;
        assert_eq!(by_admin.status(), 403, "only system keys move the clock");
        assert_eq!(app.post("/v1/test-reset", &admin, &json!({})).await.status(), 403);
        assert_eq!(body(app.get("/v1/test-clock", &admin).await).await["now"], "2026-03-11T10:15:00Z");
    }

    async fn test_reset_empties_usage_and_keeps_tenants_keys_and_limits(app) {
        let (_, admin) = app.tenant_with_admin().await;
        limit(&app, &admin, "daily", 2, "calendar_day").await;
        limit(&app, &admin, "slots", 1, "none").await;
        let usage = json!({"subject": {}, "metric": "daily", "amount": 2});
        let first = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
            .header("Idempotency-Key", "k1").json(&usage).send().await.expect("consume");
        assert_eq!(first.status(), 200);
        let lease = json!({"subject": {}, "metric": "slots", "amount": 1, "ttl_seconds": 600});
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201);

        let reset = app.post("/v1/test-reset", &app.system, &json!({})).await;
        assert_eq!(reset.status(), 200);
        assert!(body(reset).await["deleted"].as_u64().is_some_and(|n| n >= 3), "counter, lease, idempotency record");

        let daily = body(app.get("/v1/limits/daily", &admin).await).await;
        assert_eq!(daily["amount"], 2, "the limit stays");
        assert_eq!(daily["usage"]["used"], 0, "its usage went");
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), 201, "the lease went");
        let other_body = json!({"subject": {}, "metric": "daily", "amount": 1});
        let reused = app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
            .header("Idempotency-Key", "k1").json(&other_body).send().await.expect("consume");
        assert_eq!(reused.status(), 200, "the idempotency record went");
        assert!(reused.headers().get("idempotent-replayed").is_none());
    }
}

/// A test clock and a request rate limit of 3 a minute per key.
fn test_clock_and_three_a_minute() -> Settings {
    Settings {
        rate_limit_requests: 3,
        rate_limit_window: std::time::Duration::from_secs(60),
        ..with_test_clock()
    }
}

on_both_backends_with! {
    settings = test_clock_and_three_a_minute();

    async fn the_per_key_request_rate_limit_refills_only_as_the_test_clock_moves(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for _ in 0..3 {
            assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200);
        }
        let refused = app.get("/v1/whoami", &admin).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["retry-after"], "20", "one request is earned back every 20 s");
        assert_eq!(refused.headers()["x-ratelimit-reset"], "60");
        // The system key has its own three a minute, spent on the set-up: move the same clock
        // the server's test clock is, directly.
        app.clock.advance(chrono::TimeDelta::seconds(19));
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 429, "19 s: not yet");
        app.clock.advance(chrono::TimeDelta::seconds(1));
        let again = app.get("/v1/whoami", &admin).await;
        assert_eq!(again.status(), 200, "20 s of test clock later");
        assert_eq!(again.headers()["x-ratelimit-remaining"], "0");
    }
}

on_both_backends! {
    async fn without_test_clock_the_ci_routes_are_not_found(app) {
        assert_eq!(app.get("/v1/test-clock", &app.system).await.status(), 404);
        let moved = app.post("/v1/test-clock", &app.system, &json!({"advance_seconds": 60})).await;
        assert_eq!(moved.status(), 404);
        assert_eq!(app.post("/v1/test-reset", &app.system, &json!({})).await.status(), 404);
    }
}
