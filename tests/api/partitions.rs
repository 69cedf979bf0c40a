//! The bound on a limit's `per` partitions (`--max-partitions-per-limit`): a usage that would make
//! one more counter than the bound in a period is refused by name, the partitions already there
//! keep counting, and concurrent batches never make more than the bound. The bound reads a kept
//! count (`partition_counts`): a partition deleted frees its slot, and the count's migration
//! counts the partitions made before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quotaplane::app::Settings;
use quotaplane::domain::bounds::Bounds;
use quotaplane::domain::clock::ManualClock;
use quotaplane::domain::retention::{Retention, RetentionStore};
use quotaplane::store::AnyStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::on_both_backends_with;
use crate::support::{Backend, TestApp, body, scalar, test_epoch};

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

/// The kept partition count of `limit_id` (over its periods), behind the server's back.
async fn kept_count(app: &TestApp, limit_id: &str) -> i64 {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(partitions), 0) AS BIGINT) FROM partition_counts \
         WHERE limit_id = '{limit_id}'"
    );
    scalar(app, &sql).await
}

/// Runs each of `statements` on the server's database, behind its back.
async fn execute(app: &TestApp, statements: &[&str]) {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            for sql in statements {
                sqlx::query(sql).execute(&mut c).await.expect(sql);
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            for sql in statements {
                sqlx::query(sql).execute(&mut c).await.expect(sql);
            }
        }
    }
}

async fn consume(app: &TestApp, admin: &str, user: &str) -> StatusCode {
    app.post("/v1/usage/consume", admin, &usage(user, 1))
        .await
        .status()
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

    async fn concurrent_consumers_of_the_same_few_new_users_never_refuse_a_user_whose_partition_was_made(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limits(&app, &admin).await;
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let next = next.clone();
                let (client, url, key) = (app.client.clone(), format!("{}/v1/usage/consume", app.base), admin.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= 60 {
                            return seen;
                        }
                        // Ten each: within the per-user amount.
                        let user = format!("u{}", n % 6);
                        let response = client.post(&url).bearer_auth(&key).json(&usage(&user, 1)).send().await.expect("consume");
                        seen.push((user, response.status()));
                    }
                })
            })
            .collect();
        let mut admitted = std::collections::BTreeSet::new();
        let mut refused = std::collections::BTreeSet::new();
        for worker in workers {
            for (user, status) in worker.await.expect("worker") {
                match status {
                    StatusCode::OK => admitted.insert(user),
                    StatusCode::CONFLICT => refused.insert(user),
                    other => panic!("unexpected {other}"),
                };
            }
        }
        assert_eq!(admitted.len(), 3, "{admitted:?}");
        assert!(admitted.is_disjoint(&refused), "a user with a partition was refused: {admitted:?} {refused:?}");
        assert_eq!(partitions(&app, "per-user").await, 3);
        assert_eq!(kept_count(&app, "per-user").await, 3);
    }

    async fn a_partition_swept_as_idle_frees_its_slot_under_the_bound(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let per_user = json!({"subject": {}, "metric": "calls", "amount": 10,
            "window": {"kind": "none"}, "per": ["user"]});
        assert!(app.put("/v1/limits/per-user", &admin, &per_user).await.status().is_success());
        for user in ["u1", "u2", "u3"] {
            assert_eq!(consume(&app, &admin, user).await, StatusCode::OK, "{user}");
        }
        assert_eq!(consume(&app, &admin, "u4").await, StatusCode::CONFLICT);
        let back_to_zero = json!({"subject": {"user": "u1"}, "metric": "calls", "value": 0});
        assert_eq!(app.post("/v1/usage/report", &admin, &back_to_zero).await.status(), StatusCode::OK);
        assert_eq!(kept_count(&app, "per-user").await, 3);

        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let later = (test_epoch() + chrono::TimeDelta::hours(2)).timestamp_millis();
        let swept = store.sweep_retained(later, &Retention::default()).await.expect("sweep");

        assert_eq!(swept.idle_partitions, 1);
        assert_eq!(kept_count(&app, "per-user").await, 2, "the swept partition is no longer counted");
        assert_eq!(consume(&app, &admin, "u4").await, StatusCode::OK, "its slot is free again");
        assert_eq!(consume(&app, &admin, "u5").await, StatusCode::CONFLICT);
        assert_eq!(kept_count(&app, "per-user").await, partitions(&app, "per-user").await);
    }

    async fn deleting_a_limit_forgets_its_partition_count_so_a_new_limit_of_its_id_starts_from_none(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limits(&app, &admin).await;
        for user in ["u1", "u2", "u3"] {
            assert_eq!(consume(&app, &admin, user).await, StatusCode::OK, "{user}");
        }
        assert_eq!(kept_count(&app, "per-user").await, 3);

        assert!(app.delete("/v1/limits/per-user", &admin).await.status().is_success());

        assert_eq!(kept_count(&app, "per-user").await, 0, "the counters' cascade took the count");
        put_limits(&app, &admin).await;
        for user in ["u4", "u5", "u6"] {
            assert_eq!(consume(&app, &admin, user).await, StatusCode::OK, "{user}");
        }
        assert_eq!(consume(&app, &admin, "u7").await, StatusCode::CONFLICT);
    }

    async fn partitions_made_before_the_count_was_kept_are_counted_by_its_migration(app) {
        let (_, admin) = app.tenant_with_admin().await;
        put_limits(&app, &admin).await;
        for user in ["u1", "u2"] {
            assert_eq!(consume(&app, &admin, user).await, StatusCode::OK, "{user}");
        }
        // Back to the database as it was before migration 0019, partitions and all.
        let undo: &[&str] = match app.backend {
            Backend::Sqlite => &["DROP TRIGGER counters_partition_made",
                "DROP TRIGGER counters_partition_gone"],
            Backend::Postgres => &["DROP FUNCTION count_partitions() CASCADE"],
        };
        execute(&app, undo).await;
        execute(&app, &["DROP TABLE partition_counts",
            "DELETE FROM _sqlx_migrations WHERE version = 19"]).await;

        AnyStore::connect(&app.database_url).await.expect("migrated again");

        assert_eq!(kept_count(&app, "per-user").await, 2);
        assert_eq!(consume(&app, &admin, "u3").await, StatusCode::OK);
        assert_eq!(consume(&app, &admin, "u4").await, StatusCode::CONFLICT, "the bound counts u1 and u2");
        assert_eq!(kept_count(&app, "per-user").await, 3);
    }
}
