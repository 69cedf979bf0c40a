//! The bound on a limit's `per` partitions (`--max-partitions-per-limit`): a usage that would make
//! one more counter than the bound in a period is refused by name, the partitions already there
//! keep counting, and concurrent batches never make more than the bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quotaplane::app::Settings;
use quotaplane::domain::bounds::Bounds;
use quotaplane::domain::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends_with;
use crate::support::{TestApp, body, scalar, test_epoch};

fn three_partitions() -> Settings {
    Settings {
        bounds: Bounds {
            partitions_per_limit: 3,
            ..Bounds::default()
        },
        test_clock: Some(ManualClock::starting_at(test_epoch())),
        ..Settings::default()
    }
}

fn usage(user: &str, amount: i64) -> Value {
    json!({"subject": {"user": user}, "metric": "calls", "amount": amount})
}

/// The counter rows of `limit_id`, behind the server's back.
async fn partitions(app: &TestApp, limit_id: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM counters WHERE limit_id = '{limit_id}'");
    scalar(app, &sql).await
}

async fn put_limits(app: &TestApp, admin: &str) {
    let per_user = json!({"subject": {}, "metric": "calls", "amount": 10,
        "window": {"kind": "day"}, "per": ["user"]});
    let total =
        json!({"subject": {}, "metric": "calls", "amount": 1000, "window": {"kind": "day"}});
    assert!(
        app.put("/v1/limits/per-user", admin, &per_user)
            .await
            .status()
            .is_success()
    );
    assert!(
        app.put("/v1/limits/total", admin, &total)
            .await
            .status()
            .is_success()
    );
}

on_both_backends_with! {
    settings = three_partitions();

    async fn a_limit_split_per_user_refuses_a_new_user_past_the_partition_bound_and_keeps_serving_known_ones(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limits(&app, &admin).await;
        for user in ["u1", "u2", "u3"] {
            assert_eq!(app.post("/v1/usage/consume", &admin, &usage(user, 1)).await.status(), StatusCode::OK, "{user}");
        }

        let refused = app.post("/v1/usage/consume", &admin, &usage("u4", 1)).await;
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let detail = body(refused).await["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("partitions_per_limit = 3") && detail.contains("per-user"), "{detail}");
        let lease = json!({"subject": {"user": "u5"}, "metric": "calls", "amount": 1, "ttl_seconds": 30});
        assert_eq!(app.post("/v1/leases", &admin, &lease).await.status(), StatusCode::CONFLICT, "a lease too");
        let report = json!({"subject": {"user": "u6"}, "metric": "calls", "value": 1});
        assert_eq!(app.post("/v1/usage/report", &admin, &report).await.status(), StatusCode::CONFLICT, "a report too");

        let checked = app.post("/v1/usage/check", &admin, &usage("u7", 1)).await;
        assert_eq!(checked.status(), StatusCode::OK, "a check makes no partition, so it is never refused");
        let known = body(app.post("/v1/usage/consume", &admin, &usage("u1", 2)).await).await;
        assert_eq!(known["allowed"], true, "{known}");
        let total = body(app.get("/v1/limits/total", &admin).await).await;
        assert_eq!(total["usage"]["used"], 5, "the refused usages counted nowhere: {total}");
        assert_eq!(partitions(&app, "per-user").await, 3);

        let response = app.post("/v1/test-clock", &app.system, &json!({"advance_seconds": 86_400})).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(app.post("/v1/usage/consume", &admin, &usage("u4", 1)).await.status(), StatusCode::OK,
            "the bound is per period");
    }

    async fn concurrent_consumers_of_ever_new_users_never_make_more_partitions_than_the_bound(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limits(&app, &admin).await;
        let (admitted, refused, next) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let (admitted, refused, next) = (admitted.clone(), refused.clone(), next.clone());
                let (client, url, key) = (app.client.clone(), format!("{}/v1/usage/consume", app.base), admin.clone());
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= 400 {
                            break;
                        }
                        let response = client.post(&url).bearer_auth(&key).json(&usage(&format!("u{n}"), 1)).send().await.expect("consume");
                        match response.status() {
                            StatusCode::OK => admitted.fetch_add(1, Ordering::SeqCst),
                            StatusCode::CONFLICT => refused.fetch_add(1, Ordering::SeqCst),
                            other => panic!("unexpected {other}"),
                        };
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 3, "exactly the bound's worth of new users");
        assert_eq!(refused.load(Ordering::SeqCst), 397);
        assert_eq!(partitions(&app, "per-user").await, 3);
        let total = body(app.get("/v1/limits/total", &admin).await).await;
        assert_eq!(total["usage"]["used"], 3, "{total}");
    }
}
