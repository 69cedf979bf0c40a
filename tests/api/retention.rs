//! Retention: counters kept for their window plus a margin, idle partitions swept, the outbox
//! dead-lettered and swept. Each case sweeps its own store at chosen instants, so no test waits.

use chrono::{DateTime, TimeDelta, Utc};
use quotaplane::domain::retention::{Retention, RetentionStore};
use quotaplane::store::AnyStore;
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, body, scalar, test_epoch};

async fn counters_of(app: &TestApp, limit_id: &str, per_value: &str) -> i64 {
    scalar(
        app,
        &format!(
            "SELECT COUNT(*) FROM counters WHERE limit_id = '{limit_id}' \
        AND per_value = '{per_value}'"
        ),
    )
    .await
}

/// Sweeps the app's database with the default rules as if it were `now`, but without keeping
/// ended periods as usage history (tests/api/history.rs covers that), so what is left is the
/// rule of the previous period being readable just after a reset.
async fn sweep_at(app: &TestApp, now: DateTime<Utc>) -> quotaplane::domain::retention::Swept {
    let store = AnyStore::connect(&app.database_url).await.expect("store");
    let retention = Retention {
        history_long: TimeDelta::zero(),
        history_short: TimeDelta::zero(),
        ..Retention::default()
    };
    store
        .sweep_retained(now.timestamp_millis(), &retention)
        .await
        .expect("sweep")
}

fn limit(window: &str, per: &[&str]) -> serde_json::Value {
    json!({"subject": {}, "metric": "m", "amount": 100, "window": {"kind": window}, "per": per})
}

/// An outbox row with these terms; its id. It is never due at the server's clock, so the
/// delivery worker leaves it to the sweep.
#[allow(clippy::too_many_arguments)]
async fn outbox_row(
    app: &TestApp,
    tenant: Uuid,
    status: &str,
    attempts: i32,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    period_end: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::new_v4();
    let sql = "INSERT INTO notification_outbox (id, tenant_id, limit_id, notification_id, \
        call_url, metric, period_start, period_end, threshold, usage, status, attempts, \
        next_attempt_at, last_error, created_at, updated_at) \
        VALUES ($1, $2, 'l', $3, 'http://127.0.0.1:9/', 'm', 0, $4, 80, 80, $5, $6, $9, NULL, $7, $8)";
    let notification = id.to_string();
    macro_rules! insert {
        ($c:expr) => {
            sqlx::query(sql)
                .bind(id)
                .bind(tenant)
                .bind(&notification)
                .bind(period_end.timestamp_millis())
                .bind(status)
                .bind(attempts)
                .bind(created.timestamp_millis())
                .bind(updated.timestamp_millis())
                .bind(i64::MAX)
                .execute($c)
                .await
                .expect("insert")
        };
    }
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            insert!(&mut c);
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            insert!(&mut c);
        }
    }
    id
}

/// An outbox row's status, `None` once swept.
async fn status(app: &TestApp, id: Uuid) -> Option<String> {
    macro_rules! read {
        ($c:expr) => {
            sqlx::query_scalar("SELECT status FROM notification_outbox WHERE id = $1")
                .bind(id)
                .fetch_optional($c)
                .await
                .expect("status")
        };
    }
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            read!(&mut c)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            read!(&mut c)
        }
    }
}

on_both_backends! {
    async fn a_counter_is_kept_one_more_window_plus_a_margin_minutes_for_seconds_months_for_months(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for (id, window) in [("per-second", "second"), ("monthly", "calendar_month")] {
            assert_eq!(app.put(&format!("/v1/limits/{id}"), &admin, &limit(window, &[])).await.status(), 201);
            let consume = json!({"subject": {}, "metric": "m", "amount": 1});
            assert_eq!(app.post("/v1/usage/consume", &admin, &consume).await.status(), 200);
        }
        let epoch = test_epoch();
        sweep_at(&app, epoch + TimeDelta::minutes(5)).await;
        assert_eq!(counters_of(&app, "per-second", "").await, 1, "kept a few minutes");
        sweep_at(&app, epoch + TimeDelta::minutes(11)).await;
        assert_eq!(counters_of(&app, "per-second", "").await, 0, "gone after the margin");
        assert_eq!(counters_of(&app, "monthly", "").await, 1);
        // March's counter: read through April, kept until early May.
        sweep_at(&app, epoch + TimeDelta::days(45)).await;
        assert_eq!(counters_of(&app, "monthly", "").await, 1, "kept a month after its period");
        let swept = sweep_at(&app, epoch + TimeDelta::days(53)).await;
        assert_eq!(counters_of(&app, "monthly", "").await, 0, "gone about two months on");
        assert_eq!(swept.counters, 1);
    }

    async fn an_idle_partition_of_a_total_holding_zero_is_swept_and_reads_zero_afterwards(app) {
        let (_, admin) = app.tenant_with_admin().await;
        assert_eq!(app.put("/v1/limits/total", &admin, &limit("none", &["user"])).await.status(), 201);
        for user in ["idle", "busy"] {
            let consume = json!({"subject": {"user": user}, "metric": "m", "amount": 3});
            assert_eq!(app.post("/v1/usage/consume", &admin, &consume).await.status(), 200);
        }
        let back_to_zero = json!({"subject": {"user": "idle"}, "metric": "m", "value": 0});
        assert_eq!(app.post("/v1/usage/report", &admin, &back_to_zero).await.status(), 200);
        let epoch = test_epoch();
        sweep_at(&app, epoch + TimeDelta::minutes(30)).await;
        assert_eq!(counters_of(&app, "total", r#"["idle"]"#).await, 1, "not idle long enough yet");
        let swept = sweep_at(&app, epoch + TimeDelta::hours(2)).await;
        assert_eq!(swept.idle_partitions, 1);
        assert_eq!(counters_of(&app, "total", r#"["idle"]"#).await, 0);
        assert_eq!(counters_of(&app, "total", r#"["busy"]"#).await, 1, "a partition holding units stays");
        // The swept partition reads 0 and counts again from there.
        let consume = json!({"subject": {"user": "idle"}, "metric": "m", "amount": 2});
        let again = body(app.post("/v1/usage/consume", &admin, &consume).await).await;
        assert_eq!(again["allowed"], true, "{again}");
        assert_eq!(scalar(&app, r#"SELECT used FROM counters WHERE limit_id = 'total'
            AND per_value = '["idle"]'"#).await, 2);
    }

    async fn the_outbox_dead_letters_after_its_attempts_or_age_and_sweeps_finished_rows(app) {
        let tenant: Uuid = app.create_tenant("acme").await.parse().expect("uuid");
        let now = test_epoch() + TimeDelta::days(30);
        let ago = |days: i64| now - TimeDelta::days(days);
        let later = now + TimeDelta::days(1);
        let tried_out = outbox_row(&app, tenant, "pending", 20, ago(1), ago(0), later).await;
        let too_old = outbox_row(&app, tenant, "pending", 3, ago(4), ago(0), later).await;
        let retrying = outbox_row(&app, tenant, "pending", 19, ago(2), ago(0), later).await;
        let delivered_long_ago = outbox_row(&app, tenant, "delivered", 1, ago(9), ago(8), ago(5)).await;
        let period_running = outbox_row(&app, tenant, "delivered", 1, ago(9), ago(8), later).await;
        let delivered_lately = outbox_row(&app, tenant, "delivered", 1, ago(2), ago(2), ago(1)).await;
        let dead_long_ago = outbox_row(&app, tenant, "dead", 20, ago(12), ago(8), ago(5)).await;

        let swept = sweep_at(&app, now).await;
        // (The server's own sweep, at its clock's instant, may have dead-lettered the row out
        // of attempts already: the statuses below are what matters.)
        assert!((1..=2).contains(&swept.dead_lettered), "{swept:?}");
        assert_eq!(swept.outbox, 2, "{swept:?}");
        assert_eq!(status(&app, tried_out).await.as_deref(), Some("dead"));
        assert_eq!(status(&app, too_old).await.as_deref(), Some("dead"));
        assert_eq!(status(&app, retrying).await.as_deref(), Some("pending"));
        assert_eq!(status(&app, delivered_long_ago).await, None);
        assert_eq!(status(&app, period_running).await.as_deref(), Some("delivered"),
            "kept while its period runs: it says the threshold already fired");
        assert_eq!(status(&app, delivered_lately).await.as_deref(), Some("delivered"));
        assert_eq!(status(&app, dead_long_ago).await, None);
        // The dead rows go in their turn.
        sweep_at(&app, now + TimeDelta::days(8)).await;
        assert_eq!(status(&app, tried_out).await, None);
    }

    async fn an_idempotency_record_keeps_a_compact_answer_and_replays_the_same_decision(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for i in 0..60 {
            let path = format!("/v1/limits/wide-{i:02}");
            assert_eq!(app.put(&path, &admin, &limit("day", &[])).await.status(), 201);
        }
        let tight = json!({"subject": {"who": "t"}, "metric": "m", "amount": 1, "window": {"kind": "day"}});
        assert_eq!(app.put("/v1/limits/tight", &admin, &tight).await.status(), 201);
        let consume = |key: &'static str, who: &str, amount: i64| {
            let request = json!({"subject": {"who": who}, "metric": "m", "amount": amount});
            app.request(reqwest::Method::POST, "/v1/usage/consume", &admin)
                .header("Idempotency-Key", key).json(&request).send()
        };
        let first = body(consume("wide", "w", 2).await.expect("consume")).await;
        assert_eq!(first["limits"].as_array().map(Vec::len), Some(60), "{first}");
        let refused = consume("refused", "t", 5).await.expect("consume");
        assert_eq!(refused.status(), 429);
        let refused = body(refused).await;
        for (key, who, amount, answer) in [("wide", "w", 2, &first), ("refused", "t", 5, &refused)] {
            let again = consume(key, who, amount).await.expect("replay");
            assert_eq!(&body(again).await, answer, "a replay answers as the first time");
        }
        let longest = scalar(&app, "SELECT CAST(MAX(LENGTH(decision)) AS BIGINT) FROM idempotency").await;
        assert!(longest < 100, "records hold no limit statuses: {longest} bytes");
    }
}
