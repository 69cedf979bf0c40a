//! Usage history: the final usage of a windowed limit's ended periods, per `per` partition,
//! kept for the history retention and read with `GET /v1/limits/{id}/history`. Periods roll
//! with the test clock (`--test-clock`).

use chrono::TimeDelta;
use quotaplane::app::Settings;
use quotaplane::domain::clock::ManualClock;
use quotaplane::domain::retention::{Retention, RetentionStore};
use quotaplane::store::AnyStore;
use serde_json::{Value, json};

use crate::on_both_backends_with;
use crate::support::{TestApp, body, test_epoch};

fn with_test_clock() -> Settings {
    Settings {
        test_clock: Some(ManualClock::starting_at(test_epoch())),
        ..Settings::default()
    }
}

async fn put_limit(app: &TestApp, admin: &str, id: &str, window: &str, per: &[&str]) {
    let limit = json!({"subject": {}, "metric": id, "amount": 10, "window": {"kind": window},
        "per": per});
    let status = app
        .put(&format!("/v1/limits/{id}"), admin, &limit)
        .await
        .status();
    assert!(status.is_success(), "put {id}: {status}");
}

async fn consume(app: &TestApp, key: &str, metric: &str, subject: Value, amount: i64) {
    let usage = json!({"subject": subject, "metric": metric, "amount": amount});
    let status = app.post("/v1/usage/consume", key, &usage).await.status();
    assert_eq!(status, 200, "consume {amount} of {metric}");
}

async fn advance(app: &TestApp, seconds: i64) {
    let response = app
        .post(
            "/v1/test-clock",
            &app.system,
            &json!({"advance_seconds": seconds}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

/// `GET /v1/limits/{id}/history{query}`: the periods, asserting a 200.
async fn history(app: &TestApp, key: &str, id: &str, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/v1/limits/{id}/history{query}"), key)
        .await;
    assert_eq!(response.status(), 200, "history of {id}{query}");
    body(response).await.as_array().expect("array").clone()
}

fn used(periods: &[Value]) -> Vec<i64> {
    periods
        .iter()
        .map(|p| p["used"].as_i64().expect("used"))
        .collect()
}

on_both_backends_with! {
    settings = with_test_clock();

    async fn a_minute_limit_consumed_in_three_minutes_answers_three_periods_with_their_usage(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "per-minute", "minute", &[]).await;
        for units in 1..=3 {
            consume(&app, &admin, "per-minute", json!({}), units).await;
            advance(&app, 60).await;
        }
        let periods = history(&app, &admin, "per-minute", "").await;
        assert_eq!(used(&periods), [1, 2, 3], "oldest first: {periods:?}");
        let epoch = test_epoch();
        for (i, p) in periods.iter().enumerate() {
            let start = epoch + TimeDelta::minutes(i as i64);
            assert_eq!(p["period_start"], json!(start), "{p}");
            assert_eq!(p["period_end"], json!(start + TimeDelta::minutes(1)));
            assert_eq!(p["limit"], 10);
            assert_eq!(p["partition"], Value::Null);
        }
        // The running period is not history yet.
        consume(&app, &admin, "per-minute", json!({}), 4).await;
        assert_eq!(history(&app, &admin, "per-minute", "").await.len(), 3);
    }

    async fn each_per_partition_is_listed_separately(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "per-user", "minute", &["user"]).await;
        consume(&app, &admin, "per-user", json!({"user": "alice"}), 2).await;
        consume(&app, &admin, "per-user", json!({"user": "bob"}), 5).await;
        advance(&app, 60).await;
        let periods = history(&app, &admin, "per-user", "").await;
        let partitions: Vec<&Value> = periods.iter().map(|p| &p["partition"]).collect();
        assert_eq!(partitions, [&json!(["alice"]), &json!(["bob"])]);
        assert_eq!(used(&periods), [2, 5]);
    }

    async fn the_history_is_paged_ranged_and_a_bad_bound_is_a_400_naming_it(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "m", "minute", &[]).await;
        for _ in 0..5 {
            consume(&app, &admin, "m", json!({}), 1).await;
            advance(&app, 60).await;
        }
        let first = app.get("/v1/limits/m/history?limit=2", &admin).await;
        let link = first.headers().get("link").expect("a next page").to_str().expect("link").to_owned();
        assert_eq!(body(first).await.as_array().expect("array").len(), 2);
        let next = link.trim_start_matches('<').split('>').next().expect("url").to_owned();
        let second = app.client.get(&next).bearer_auth(&admin).send().await.expect("GET");
        let second = body(second).await;
        assert_eq!(second[0]["period_start"], json!(test_epoch() + TimeDelta::minutes(2)));

        let from = (test_epoch() + TimeDelta::minutes(3)).to_rfc3339().replace('+', "%2B");
        assert_eq!(history(&app, &admin, "m", &format!("?from={from}")).await.len(), 2);
        for (query, named) in [("?from=soon", "from"), ("?to=2026-02-30T00:00:00Z", "to")] {
            let response = app.get(&format!("/v1/limits/m/history{query}"), &admin).await;
            assert_eq!(response.status(), 400);
            assert_eq!(body(response).await["errors"][0]["parameter"], named);
        }
    }

    async fn a_limit_the_caller_may_not_see_has_no_history_to_show(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "m", "minute", &[]).await;
        let (_, stranger) = app.tenant_with_admin().await;
        assert_eq!(app.get("/v1/limits/m/history", &stranger).await.status(), 404);
        assert_eq!(app.get("/v1/limits/none/history", &admin).await.status(), 404);
    }

    async fn the_amount_then_is_unknown_once_the_limit_has_changed(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "m", "minute", &[]).await;
        consume(&app, &admin, "m", json!({}), 1).await;
        advance(&app, 60).await;
        let changed = json!({"subject": {}, "metric": "m", "amount": 20, "window": {"kind": "minute"}});
        assert_eq!(app.put("/v1/limits/m", &admin, &changed).await.status(), 200);
        consume(&app, &admin, "m", json!({}), 1).await;
        advance(&app, 60).await;
        let periods = history(&app, &admin, "m", "").await;
        let limits: Vec<&Value> = periods.iter().map(|p| &p["limit"]).collect();
        assert_eq!(limits, [&Value::Null, &json!(20)]);
    }

    async fn periods_past_the_history_retention_are_swept_short_windows_first(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "minutely", "minute", &[]).await;
        put_limit(&app, &admin, "daily", "calendar_day", &[]).await;
        consume(&app, &admin, "minutely", json!({}), 1).await;
        consume(&app, &admin, "daily", json!({}), 1).await;
        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let sweep = |days: i64| {
            let store = store.clone();
            async move {
                let at = test_epoch() + TimeDelta::days(days);
                store.sweep_retained(at.timestamp_millis(), &Retention::default()).await.expect("sweep")
            }
        };
        advance(&app, 2 * 86_400).await;
        sweep(6).await;
        assert_eq!(history(&app, &admin, "minutely", "").await.len(), 1, "kept 7 days");
        sweep(8).await;
        assert!(history(&app, &admin, "minutely", "").await.is_empty(), "gone after 7 days");
        assert_eq!(history(&app, &admin, "daily", "").await.len(), 1, "a day's kept 90 days");
        sweep(92).await;
        let everything = "?from=2000-01-01T00:00:00Z";
        assert!(history(&app, &admin, "daily", everything).await.is_empty());
    }

    async fn an_ended_period_keeps_only_its_busiest_partitions_past_the_bound(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limit(&app, &admin, "per-user", "minute", &["user"]).await;
        for (user, units) in [("a", 1), ("b", 3), ("c", 2)] {
            consume(&app, &admin, "per-user", json!({"user": user}), units).await;
        }
        advance(&app, 3600).await;
        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let retention = Retention { history_partitions: 2, ..Retention::default() };
        let now = (test_epoch() + TimeDelta::hours(1)).timestamp_millis();
        let swept = store.sweep_retained(now, &retention).await.expect("sweep");
        assert_eq!(swept.partitions, 1);
        let partitions: Vec<Value> = history(&app, &admin, "per-user", "").await
            .iter().map(|p| p["partition"].clone()).collect();
        assert_eq!(partitions, [json!(["b"]), json!(["c"])], "the two that used the most");
    }
}
