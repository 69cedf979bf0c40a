//! Precedence, expiry, shadow mode and explained decisions through the native API.

use quotaplane::app::Settings;
use quotaplane::domain::clock::ManualClock;
use serde_json::{Value, json};

use crate::support::{TestApp, body, test_epoch};
use crate::{on_both_backends, on_both_backends_with};

fn with_test_clock() -> Settings {
    Settings {
        test_clock: Some(ManualClock::starting_at(test_epoch())),
        ..Settings::default()
    }
}

async fn put(app: &TestApp, admin: &str, id: &str, limit: Value) -> reqwest::Response {
    app.put(&format!("/v1/limits/{id}"), admin, &limit).await
}

async fn put_ok(app: &TestApp, admin: &str, id: &str, limit: Value) {
    let response = put(app, admin, id, limit).await;
    assert!(
        response.status().is_success(),
        "put {id}: {}",
        response.status()
    );
}

/// How many of `n` one-unit consumes of `metric` by `user` are admitted.
async fn admitted(app: &TestApp, key: &str, user: &str, metric: &str, n: usize) -> usize {
    let mut count = 0;
    for _ in 0..n {
        let usage = json!({"subject": {"user": user}, "metric": metric, "amount": 1});
        if app.post("/v1/usage/consume", key, &usage).await.status() == 200 {
            count += 1;
        }
    }
    count
}

/// "Every user 3 a minute; user u7 5 a minute", on `metric`.
async fn every_user_and_u7(app: &TestApp, admin: &str, metric: &str) {
    put_ok(
        app,
        admin,
        "every-user",
        json!({"subject": {}, "per": ["user"], "metric": metric,
        "amount": 3, "window": {"kind": "minute"}, "family": "users"}),
    )
    .await;
    put_ok(
        app,
        admin,
        "u7",
        json!({"subject": {"user": "u7"}, "metric": metric,
        "amount": 5, "window": {"kind": "minute"}, "family": "users"}),
    )
    .await;
}

on_both_backends! {
    async fn a_users_own_limit_replaces_the_default_every_user_gets(app) {
        let (_, admin) = app.tenant_with_admin().await;
        every_user_and_u7(&app, &admin, "calls").await;
        assert_eq!(admitted(&app, &admin, "u7", "calls", 7).await, 5, "u7 has its own 5");
        assert_eq!(admitted(&app, &admin, "u1", "calls", 5).await, 3, "u1 gets the default 3");
        assert_eq!(admitted(&app, &admin, "u2", "calls", 5).await, 3, "and so does u2, for itself");
    }

    async fn a_limit_that_would_tie_with_another_of_its_family_is_refused(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_ok(&app, &admin, "by-user", json!({"subject": {"user": "u7"}, "metric": "m",
            "amount": 1, "window": {"kind": "none"}, "family": "f"})).await;
        let tie = put(&app, &admin, "by-team", json!({"subject": {"team": "t1"}, "metric": "m",
            "amount": 1, "window": {"kind": "none"}, "family": "f"})).await;
        assert_eq!(tie.status(), 409);
        assert!(body(tie).await["detail"].as_str().unwrap_or_default().contains("by-user"));
        // Another value of the same key can never meet u7's selector: no tie.
        put_ok(&app, &admin, "other-user", json!({"subject": {"user": "u8"}, "metric": "m",
            "amount": 1, "window": {"kind": "none"}, "family": "f"})).await;
        // Nor one of another family.
        put_ok(&app, &admin, "by-team-g", json!({"subject": {"team": "t1"}, "metric": "m",
            "amount": 1, "window": {"kind": "none"}, "family": "g"})).await;
    }

    async fn explain_names_the_binding_limit_and_the_replaced_ones(app) {
        let (_, admin) = app.tenant_with_admin().await;
        every_user_and_u7(&app, &admin, "calls").await;
        put_ok(&app, &admin, "org", json!({"subject": {}, "metric": "calls", "amount": 100,
            "window": {"kind": "minute"}})).await;
        let usage = json!({"subject": {"user": "u7"}, "metric": "calls", "amount": 5});
        let admitted = body(app.post("/v1/usage/consume?explain=true", &admin, &usage).await).await;
        let part = |d: &Value, id: &str| {
            d["explain"].as_array().into_iter().flatten()
                .find(|e| e["quota_id"] == id).map(|e| e["part"].clone()).unwrap_or(Value::Null)
        };
        assert_eq!(part(&admitted, "u7"), "binding", "{admitted}");
        assert_eq!(part(&admitted, "org"), "applied");
        assert_eq!(part(&admitted, "every-user"), "replaced");
        let replaced = admitted["explain"].as_array().into_iter().flatten()
            .find(|e| e["quota_id"] == "every-user").cloned().unwrap_or_default();
        assert_eq!(replaced["replaced_by"], "u7");

        let refused = app.post("/v1/usage/consume?explain=true", &admin, &usage).await;
        assert_eq!(refused.status(), 429);
        let refused = body(refused).await;
        assert_eq!(refused["violated-policies"], json!(["u7"]));
        assert_eq!(part(&refused, "u7"), "binding");
        assert_eq!(part(&refused, "org"), "applied");

        let plain = body(app.post("/v1/usage/check", &admin, &usage).await).await;
        assert!(plain.get("explain").is_none(), "explain only when asked: {plain}");
        let bad = app.post("/v1/usage/check?explain=maybe", &admin, &usage).await;
        assert_eq!(bad.status(), 400);
    }

    async fn shadow_limits_count_and_report_but_never_refuse(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_ok(&app, &admin, "dry", json!({"subject": {}, "metric": "calls", "amount": 2,
            "window": {"kind": "none"}, "mode": "shadow"})).await;
        let usage = json!({"subject": {}, "metric": "calls", "amount": 1});
        for _ in 0..2 {
            let d = body(app.post("/v1/usage/consume", &admin, &usage).await).await;
            assert!(d.get("would_refuse").is_none(), "{d}");
        }
        let third = app.post("/v1/usage/consume", &admin, &usage).await;
        assert_eq!(third.status(), 200, "a shadow limit never refuses");
        let third = body(third).await;
        assert_eq!(third["would_refuse"], json!(["dry"]));
        let limit = body(app.get("/v1/limits/dry", &admin).await).await;
        assert_eq!(limit["usage"]["used"], 3, "it counts");
        assert_eq!(limit["mode"], "shadow");
        let bad = put(&app, &admin, "bad", json!({"subject": {}, "metric": "calls", "amount": 2,
            "window": {"kind": "none"}, "mode": "sometimes"})).await;
        assert_eq!(bad.status(), 422);
    }

    async fn effective_limits_say_which_apply_and_which_are_replaced_with_usage(app) {
        let (_, admin) = app.tenant_with_admin().await;
        every_user_and_u7(&app, &admin, "calls").await;
        admitted(&app, &admin, "u1", "calls", 2).await;
        let found = body(app.get("/v1/limits/effective?metric=calls&subject.user=u1", &admin).await).await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
        assert_eq!(found[0]["quota_id"], "every-user");
        assert_eq!(found[0]["standing"], "applies");
        assert_eq!(found[0]["usage"]["used"], 2, "u1's own counter");
        let found = body(app.get("/v1/limits/effective?metric=calls&subject.user=u7", &admin).await).await;
        let standing: Vec<(String, String)> = found.as_array().into_iter().flatten()
            .map(|e| (e["quota_id"].as_str().unwrap_or_default().to_owned(),
                      e["standing"].as_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(standing, vec![("u7".to_owned(), "applies".to_owned()),
            ("every-user".to_owned(), "replaced".to_owned())]);
        assert_eq!(found[1]["replaced_by"], "u7");
        let missing = app.get("/v1/limits/effective?subject.user=u7", &admin).await;
        assert_eq!(missing.status(), 400);
        let unknown = app.get("/v1/limits/effective?metric=calls&user=u7", &admin).await;
        assert_eq!(unknown.status(), 400);
    }
}

on_both_backends_with! {
    settings = with_test_clock();

    async fn an_expiring_override_lapses_and_the_default_applies_again(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_ok(&app, &admin, "every-user", json!({"subject": {}, "per": ["user"], "metric": "calls",
            "amount": 1, "window": {"kind": "none"}, "family": "users"})).await;
        let in_an_hour = (test_epoch() + chrono::TimeDelta::hours(1)).to_rfc3339();
        put_ok(&app, &admin, "u7-boost", json!({"subject": {"user": "u7"}, "metric": "calls",
            "amount": 3, "window": {"kind": "none"}, "family": "users", "expires_at": in_an_hour})).await;
        assert_eq!(admitted(&app, &admin, "u7", "calls", 4).await, 3, "the override applies");
        let moved = app.post("/v1/test-clock", &app.system, &json!({"advance_seconds": 3600})).await;
        assert_eq!(moved.status(), 200);
        assert_eq!(admitted(&app, &admin, "u7", "calls", 2).await, 1, "the default applies again");
        let found = body(app.get("/v1/limits/effective?metric=calls&subject.user=u7", &admin).await).await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
        assert_eq!(found[0]["quota_id"], "every-user");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_in_shadow_mode_refuses_nothing_and_reports_what_it_would() {
    let settings = Settings {
        shadow: true,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, settings)
        .await
        .expect("sqlite always runs");
    let (_, admin) = app.tenant_with_admin().await;
    put_ok(
        &app,
        &admin,
        "tight",
        json!({"subject": {}, "metric": "calls", "amount": 1,
        "window": {"kind": "none"}}),
    )
    .await;
    let usage = json!({"subject": {}, "metric": "calls", "amount": 1});
    assert_eq!(
        app.post("/v1/usage/consume", &admin, &usage).await.status(),
        200
    );
    let second = app.post("/v1/usage/consume", &admin, &usage).await;
    assert_eq!(second.status(), 200);
    assert_eq!(body(second).await["would_refuse"], json!(["tight"]));
}
