//! PostgreSQL plans that must not follow stale statistics: a batch's lock statement never walks
//! a limit's partitions for each of its counters, even when the last ANALYZE saw a `per` limit
//! with few partitions and it has thousands now (the planner then preferred joining limits first
//! and reading every partition of the limit once per counter: 155 ms for 63 counters). Reading
//! the table once, where the statistics make that look cheaper than one look-up a key, is the
//! planner's to choose.

use quotaplane::app::Settings;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use crate::support::{TestApp, fresh_postgres_database, postgres_url};

/// Counters the lock statement asks for in each plan below.
const KEYS: usize = 50;

/// Rows that plan nodes reading `counters` produced, over all their loops, plus the rows any
/// node threw away by a filter.
fn counter_rows_read(node: &Value) -> f64 {
    let number = |key: &str| node[key].as_f64().unwrap_or(0.0);
    let own = if node["Relation Name"] == "counters" {
        number("Actual Rows") * number("Actual Loops").max(1.0)
    } else {
        0.0
    };
    let removed = number("Rows Removed by Filter") + number("Rows Removed by Join Filter");
    let children = node["Plans"].as_array().map_or(0.0, |plans| {
        plans.iter().map(counter_rows_read).sum::<f64>()
    });
    own + removed * number("Actual Loops").max(1.0) + children
}

/// What `explain` (an `EXPLAIN (ANALYZE, FORMAT JSON)`) read of `counters`, in a transaction
/// rolled back; `keys` are bound as the lock statement's parameters when given.
async fn rows_read(
    db: &mut PgConnection,
    explain: &str,
    keys: Option<&(Uuid, Vec<String>)>,
) -> f64 {
    let mut tx = db.begin().await.expect("begin");
    let mut query = sqlx::query_scalar(explain);
    if let Some((tenant, pers)) = keys {
        query = query
            .bind(vec![*tenant; KEYS])
            .bind(vec!["by-user"; KEYS])
            .bind(vec![0_i64; KEYS])
            .bind(pers.clone());
    }
    let plan: Value = query.fetch_one(&mut *tx).await.expect(explain);
    tx.rollback().await.expect("rollback");
    counter_rows_read(&plan[0]["Plan"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_never_walks_a_limits_partitions_for_each_counter_whatever_the_last_analyze_saw() {
    let Some(base) = postgres_url() else { return };
    let url = fresh_postgres_database(&base).await;
    let app = TestApp::start(&url, Settings::default()).await;
    let (_, admin) = app.tenant_with_admin().await;
    let limit = |subject: Value, per: Option<Value>| {
        let mut body = json!({"subject": subject, "metric": "calls", "amount": 1_000_000,
                              "window": {"kind": "none"}, "blocking": true});
        if let Some(per) = per {
            body["per"] = per;
        }
        body
    };
    let made = app
        .put(
            "/v1/limits/plain",
            &admin,
            &limit(json!({"team": "t"}), None),
        )
        .await;
    assert_eq!(made.status(), 201);
    let made = app
        .put(
            "/v1/limits/by-user",
            &admin,
            &limit(json!({}), Some(json!(["user"]))),
        )
        .await;
    assert_eq!(made.status(), 201);

    let mut db = PgConnection::connect(&url).await.expect("connect");
    let tenant: Uuid = sqlx::query("SELECT tenant_id FROM limits WHERE id = 'by-user'")
        .fetch_one(&mut db)
        .await
        .expect("the limit")
        .get(0);
    let statements = [
        // 2,000 limits of one counter each, analyzed: a limit has about one counter.
        "INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, blocking, \
         owner, created_at, updated_at, per) \
         SELECT tenant_id, 'plain-' || i, selector, metric, amount, window_spec, blocking, owner, \
         created_at, updated_at, per FROM limits, generate_series(1, 2000) AS i \
         WHERE id = 'plain'",
        "INSERT INTO counters (tenant_id, limit_id, per_value, period_start, period_end, used, \
         updated_at) SELECT tenant_id, id, '', 0, 9223372036854775807, 1, 0 FROM limits \
         WHERE id LIKE 'plain-%'",
        "ANALYZE",
        // Then the `per` limit gains 5,000 partitions that no ANALYZE has seen.
        "INSERT INTO counters (tenant_id, limit_id, per_value, period_start, period_end, used, \
         updated_at) SELECT tenant_id, id, 'u' || i, 0, 9223372036854775807, 1, 0 \
         FROM limits, generate_series(1, 5000) AS i WHERE id = 'by-user'",
    ];
    for sql in statements {
        sqlx::query(sql).execute(&mut db).await.expect(sql);
    }
    let keys = (tenant, (1..=KEYS).map(|i| format!("u{}", i * 97)).collect());

    let lock = quotaplane::store::POSTGRES_LOCK_COUNTERS;
    let custom = format!("EXPLAIN (ANALYZE, FORMAT JSON) {lock}");
    let counters: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM counters")
        .fetch_one(&mut db)
        .await
        .expect("count");
    // Each key once, or the table once: never the limit's 5,000 partitions for each key.
    let most = (counters as f64) + 2.0 * KEYS as f64;
    let read = rows_read(&mut db, &custom, Some(&keys)).await;
    assert!(
        read <= most,
        "the custom plan read {read} counter rows for {KEYS} keys"
    );

    let prepare = format!("PREPARE lock(uuid[], text[], int8[], text[]) AS {lock}");
    sqlx::query(&prepare)
        .execute(&mut db)
        .await
        .expect("prepare");
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut db)
        .await
        .expect("generic plans");
    // EXECUTE takes no parameters: the same keys, written out.
    let pers: Vec<String> = keys.1.iter().map(|p| format!("'{p}'")).collect();
    let generic = format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE lock(array_fill('{tenant}'::uuid, ARRAY[{KEYS}]), \
         array_fill('by-user'::text, ARRAY[{KEYS}]), array_fill(0::int8, ARRAY[{KEYS}]), \
         ARRAY[{}]::text[])",
        pers.join(",")
    );
    let read = rows_read(&mut db, &generic, None).await;
    assert!(
        read <= most,
        "the generic plan read {read} counter rows for {KEYS} keys"
    );
}
