//! Replicas on one PostgreSQL: exact between them on one hot limit, and when racing for counters
//! that do not exist yet (a batch that finds one missing makes it before it locks anything, so
//! the two never both admit the last unit; new `per` partitions take a lock of their own first,
//! see `store::partitions`, new limits do not).

use reqwest::StatusCode;
use serde_json::json;

use crate::process::Server;
use crate::support::{TestApp, scalar};
use crate::usage::hammer;

/// How many new limits the replicas race for, and how many consumes each replica sends to each.
const LIMITS: usize = 120;
const PER_REPLICA: usize = 2;

/// Two quotaplane processes on one new PostgreSQL database, and a test app on it; `None` without
/// PostgreSQL (outside CI).
async fn two_processes(token: &str) -> Option<(Server, Server, TestApp)> {
    let base = crate::support::postgres_url()?;
    let url = crate::support::fresh_postgres_database(&base).await;
    let env = [
        ("QUOTAPLANE_BOOTSTRAP_TOKEN", token),
        ("QUOTAPLANE_RATE_LIMIT_REQUESTS", "1000000"),
    ];
    let one = Server::start(&url, &env).await;
    let two = Server::start(&url, &env).await;
    let app = TestApp::start(&url, Default::default()).await;
    Some((one, two, app))
}

/// Two processes sharing one PostgreSQL, each sent consumes for the same new limit at once, admit
/// exactly one of them: every limit's counter is first made by one of the racing batches, and
/// locked by both, never written blind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_for_new_counters_admit_exactly_the_limit_of_each() {
    let Some((one, two, app)) = two_processes("replica-race-token-0123456789abcdef").await else {
        return;
    };
    let (_, admin) = app.tenant_with_admin().await;
    for i in 0..LIMITS {
        let limit = json!({"subject": {}, "metric": format!("m{i}"), "amount": 1,
                           "window": {"kind": "none"}});
        let put = app.put(&format!("/v1/limits/l{i}"), &admin, &limit).await;
        assert_eq!(put.status(), 201);
    }
    let client = reqwest::Client::new();
    let consume = |base: String, i: usize| {
        let (client, admin) = (client.clone(), admin.clone());
        async move {
            let response = client
                .post(format!("{base}/v1/usage/consume"))
                .bearer_auth(&admin)
                .json(&json!({"subject": {}, "metric": format!("m{i}"), "amount": 1}))
                .send()
                .await
                .expect("consume");
            match response.status() {
                StatusCode::OK => 1,
                StatusCode::TOO_MANY_REQUESTS => 0,
                other => panic!(
                    "unexpected {other}: {}",
                    response.text().await.unwrap_or_default()
                ),
            }
        }
    };
    // A few limits at a time, every consume of one limit sent together.
    let bases = [one.base.clone(), two.base.clone()];
    for limits in (0..LIMITS).collect::<Vec<_>>().chunks(8) {
        let per_limit = bases.len() * PER_REPLICA;
        let racing = limits
            .iter()
            .flat_map(|&i| (0..per_limit).map(move |n| (n % 2, i)));
        let sent: Vec<_> = racing
            .map(|(replica, i)| tokio::spawn(consume(bases[replica].clone(), i)))
            .collect();
        let mut admitted = Vec::with_capacity(sent.len());
        for consume in sent {
            admitted.push(consume.await.expect("consume task"));
        }
        for (n, i) in limits.iter().enumerate() {
            let of_limit: usize = admitted[n * per_limit..(n + 1) * per_limit].iter().sum();
            assert_eq!(of_limit, 1, "limit l{i} admitted {of_limit} consumes");
        }
    }
    let sql = "SELECT CAST(SUM(used) AS BIGINT) FROM counters WHERE limit_id LIKE 'l%'";
    assert_eq!(
        scalar(&app, sql).await,
        LIMITS as i64,
        "each counter holds 1"
    );
}

/// Two quotaplane processes sharing one PostgreSQL admit exactly the limit between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_pass_a_blocking_limit() {
    let Some((one, two, app)) = two_processes("two-process-token-0123456789abcdef").await else {
        return;
    };
    let (_, admin) = app.tenant_with_admin().await;
    app.put_hot_limit(&admin).await;
    let (a, b) = tokio::join!(
        hammer(&one.base, &admin, 32, 2500),
        hammer(&two.base, &admin, 32, 2500)
    );
    assert_eq!(a + b, 1000, "{a} + {b}");
    assert!(a > 0 && b > 0, "both processes admitted some: {a} + {b}");
    assert_eq!(app.used(&admin, "hot").await, 1000);
}
