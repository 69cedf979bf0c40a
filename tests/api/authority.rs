//! Authority inside a tenant: who may move which counters, see which limits and take which ids;
//! bounds on what a request may write; and a store that never holds what it cannot read back.

use quotaplane::app::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, body};
use crate::zitadel::{REQUESTS, REQUESTS_LIMIT, quota};

const REPORT: &str = "/v1/usage/report";
const CONSUME: &str = "/v1/usage/consume";
const CHECK: &str = "/v1/usage/check";

/// A tenant with one key of each role: (tenant, admin, reporter, staff, user, user's id).
struct Keys {
    tenant: String,
    admin: String,
    reporter: String,
    staff: String,
    user: String,
    user_id: Uuid,
}

async fn keys(app: &TestApp) -> Keys {
    let tenant = app.create_tenant("acme").await;
    let user_id = Uuid::new_v4();
    Keys {
        admin: app.key_for(&tenant, &["admin"], None).await,
        reporter: app.key_for(&tenant, &["reporter"], None).await,
        staff: app.key_for(&tenant, &["staff"], Some(Uuid::new_v4())).await,
        user: app.key_for(&tenant, &["user"], Some(user_id)).await,
        user_id,
        tenant,
    }
}

fn gauge(metric: &str, value: i64) -> Value {
    json!({"subject": {}, "metric": metric, "value": value})
}

fn tokens(user: &str, amount: i64) -> Value {
    json!({"subject": {"user": user}, "metric": "chat_tokens", "amount": amount})
}

/// How many rows `table` holds in the server's database.
async fn rows(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
    }
}

/// Runs `sql` on the server's database, behind its back.
async fn execute(app: &TestApp, sql: &str) {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query(sql).execute(&mut c).await.expect("execute");
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            sqlx::query(sql).execute(&mut c).await.expect("execute");
        }
    }
}

/// Stops `app`'s server and starts another on the same database.
async fn restart(app: &mut TestApp) -> TestApp {
    app.begin_shutdown();
    if let Some(server) = app.server.take() {
        server
            .await
            .expect("join")
            .expect("the server stopped cleanly");
    }
    TestApp::start(&app.database_url, Settings::default()).await
}

on_both_backends! {
    async fn a_user_key_cannot_reset_the_operators_request_quota(app) {
        let k = keys(&app).await;
        let added = app.add_quota(&app.system, &k.tenant, &quota(REQUESTS, 50, true)).await;
        assert_eq!(added.status(), 200);
        let used = app.requests_used(&k.admin).await;
        for key in [&k.user, &k.admin, &k.reporter] {
            let reset = app.post(REPORT, key, &gauge("requests.all.authenticated", 0)).await;
            assert_eq!(reset.status(), StatusCode::FORBIDDEN);
        }
        // Four more requests counted (three refused reports and this read), none undone.
        assert_eq!(app.requests_used(&k.admin).await, used + 4);
    }

    async fn only_admins_and_reporters_set_levels_of_native_limits(app) {
        let k = keys(&app).await;
        let disk = json!({"subject": {}, "metric": "disk", "amount": 100,
            "window": {"kind": "none"}});
        assert_eq!(app.put("/v1/limits/disk", &k.admin, &disk).await.status(), 201);
        for (key, status) in [(&k.user, 403), (&k.staff, 403), (&k.reporter, 200), (&k.admin, 200)] {
            assert_eq!(app.post(REPORT, key, &gauge("disk", 7)).await.status(), status);
        }
        let limit = body(app.get("/v1/limits/disk", &k.admin).await).await;
        assert_eq!(limit["usage"]["used"], 7);
    }

    async fn a_user_key_consumes_chat_tokens_only_for_its_own_user(app) {
        let k = keys(&app).await;
        let other = Uuid::new_v4();
        app.key_for(&k.tenant, &["user"], Some(other)).await;
        let mine = tokens(&k.user_id.to_string(), 5);
        let theirs = tokens(&other.to_string(), 5);
        assert_eq!(app.post(CONSUME, &k.user, &mine).await.status(), 200);
        for path in [CONSUME, CHECK, "/v1/leases"] {
            let mut request = theirs.clone();
            request["ttl_seconds"] = json!(60);
            assert_eq!(app.post(path, &k.user, &request).await.status(), 403, "{path}");
        }
        assert_eq!(app.post(CONSUME, &k.staff, &theirs).await.status(), 200);
        assert_eq!(app.post(CONSUME, &k.admin, &theirs).await.status(), 200);
    }

    async fn nobody_but_quotaplane_moves_the_count_of_its_own_resources(app) {
        let k = keys(&app).await;
        let huge = json!({"subject": {}, "metric": "iam.max_api_keys.per_org",
            "amount": 1_000_000_000_000_000i64});
        for key in [&k.user, &k.admin] {
            assert_eq!(app.post(CONSUME, key, &huge).await.status(), 403);
            let level = gauge("iam.max_api_keys.per_org", 1_000_000_000_000_000);
            assert_eq!(app.post(REPORT, key, &level).await.status(), 403);
        }
        let key = app.post(&format!("/v1/tenants/{}/api-keys", k.tenant), &k.admin,
            &json!({"roles": ["user"]})).await;
        assert_eq!(key.status(), 201);
    }

    async fn a_tenant_admin_cannot_take_an_id_a_surface_uses(app) {
        let k = keys(&app).await;
        let squat = json!({"subject": {}, "metric": "requests.all.authenticated", "amount": 1,
            "window": {"kind": "hour"}});
        let refused = app.put(REQUESTS_LIMIT, &k.admin, &squat).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(body(refused).await["errors"][0]["parameter"], "id");
        let added = app.add_quota(&app.system, &k.tenant, &quota(REQUESTS, 5, true)).await;
        assert_eq!(added.status(), 200);
    }

    async fn a_tenant_admin_cannot_put_a_native_limit_in_a_surfaces_family(app) {
        let k = keys(&app).await;
        for family in ["confluent-client-quota", "service-quota.iam.max_api_keys.per_org",
            "waldur-chat-daily", "datarobot:q1:requests"] {
            let joined = json!({"subject": {"user": "u7"}, "metric": "m", "amount": 1_000_000,
                "window": {"kind": "day"}, "family": family});
            let refused = app.put("/v1/limits/lift", &k.admin, &joined).await;
            assert_eq!(refused.status(), 422, "{family}");
            assert_eq!(body(refused).await["errors"][0]["pointer"], "/family", "{family}");
        }
        let own = json!({"subject": {"user": "u7"}, "metric": "m", "amount": 5,
            "window": {"kind": "day"}, "family": "users"});
        assert_eq!(app.put("/v1/limits/lift", &k.admin, &own).await.status(), 201);
    }

    async fn a_system_key_reads_repairs_and_deletes_any_tenants_limits(app) {
        let k = keys(&app).await;
        app.add_quota(&app.system, &k.tenant, &quota(REQUESTS, 5, true)).await;
        let all = format!("/v1/tenants/{}/limits", k.tenant);
        let listed = body(app.get(&all, &app.system).await).await;
        assert!(listed.as_array().expect("list").iter()
            .any(|l| l["id"] == "zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED"));
        assert_eq!(app.get(&all, &k.admin).await.status(), 403);
        let native = json!({"subject": {}, "metric": "m", "amount": 3, "window": {"kind": "day"}});
        assert_eq!(app.put(&format!("{all}/fixed"), &app.system, &native).await.status(), 201);
        assert_eq!(app.get("/v1/limits/fixed", &k.admin).await.status(), 200);
        let surface = format!("{all}/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED");
        assert_eq!(app.get(&surface, &app.system).await.status(), 200);
        assert_eq!(app.delete(&surface, &app.system).await.status(), 204);
        assert_eq!(app.get(&surface, &app.system).await.status(), 404);
        let unknown = format!("/v1/tenants/{}/limits", Uuid::new_v4());
        assert_eq!(app.get(&unknown, &app.system).await.status(), 404);
    }

    async fn a_user_key_sees_native_limits_and_its_own_but_no_one_elses(app) {
        let k = keys(&app).await;
        let other = Uuid::new_v4();
        let other_key = app.key_for(&k.tenant, &["user"], Some(other)).await;
        let native = json!({"subject": {}, "metric": "m", "amount": 3, "window": {"kind": "day"}});
        app.put("/v1/limits/shared", &k.admin, &native).await;
        for user in [k.user_id, other] {
            app.set_quota_ok(&k.staff, json!({"user_uuid": user, "daily_limit": 5})).await;
        }
        app.post(CONSUME, &other_key, &tokens(&other.to_string(), 1)).await;
        let seen = body(app.get("/v1/limits", &k.user).await).await;
        let ids: Vec<&str> = seen.as_array().expect("list").iter()
            .filter_map(|l| l["id"].as_str()).collect();
        assert!(ids.contains(&"shared"));
        assert!(ids.iter().any(|id| id.contains(&k.user_id.to_string())));
        assert!(!ids.iter().any(|id| id.contains(&other.to_string())), "{ids:?}");
        let theirs = format!("/v1/limits/waldur-chat-daily-{other}");
        assert_eq!(app.get(&theirs, &k.user).await.status(), 404);
        assert_eq!(app.get(&theirs, &k.admin).await.status(), 200);
    }

    async fn a_check_writes_nothing_even_for_users_the_tenant_does_not_know(app) {
        let k = keys(&app).await;
        let native = json!({"subject": {}, "metric": "m", "amount": 3, "window": {"kind": "day"}});
        app.put("/v1/limits/m", &k.admin, &native).await;
        let (limits, counters) = (rows(&app, "limits").await, rows(&app, "counters").await);
        for _ in 0..20 {
            let stranger = tokens(&Uuid::new_v4().to_string(), 1);
            assert_eq!(app.post(CHECK, &k.admin, &stranger).await.status(), 200);
            let check = json!({"subject": {}, "metric": "m", "amount": 1});
            assert_eq!(app.post(CHECK, &k.admin, &check).await.status(), 200);
        }
        assert_eq!(rows(&app, "limits").await, limits);
        assert_eq!(rows(&app, "counters").await, counters);
        assert_eq!(rows(&app, "chat_token_quotas").await, 0);
    }

    async fn a_lease_of_nothing_is_refused(app) {
        let k = keys(&app).await;
        let lease = json!({"subject": {}, "metric": "m", "amount": 0, "ttl_seconds": 60});
        let refused = app.post("/v1/leases", &k.admin, &lease).await;
        assert_eq!(refused.status(), 422);
        assert_eq!(body(refused).await["errors"][0]["pointer"], "/amount");
    }

    async fn control_characters_never_reach_the_store(app) {
        let k = keys(&app).await;
        let key = app.post(&format!("/v1/tenants/{}/api-keys", k.tenant), &app.system,
            &json!({"roles": ["user"], "description": "a\u{0}b"})).await;
        assert_eq!(key.status(), 422);
        let subject = json!({"subject": {"who": "a\u{0}b"}, "metric": "m", "amount": 1});
        assert_eq!(app.post(CONSUME, &k.admin, &subject).await.status(), 422);
        let lines = app.post(&format!("/v1/tenants/{}/api-keys", k.tenant), &app.system,
            &json!({"roles": ["user"], "description": "two\nlines"})).await;
        assert_eq!(lines.status(), 201);
    }

    async fn an_unreadable_row_is_left_out_of_lists_and_the_server_still_starts(app) {
        let k = keys(&app).await;
        let native = json!({"subject": {}, "metric": "m", "amount": 3, "window": {"kind": "day"}});
        app.put("/v1/limits/good", &k.admin, &native).await;
        app.put("/v1/limits/bad", &k.admin, &native).await;
        execute(&app, "UPDATE limits SET window_spec = 'not json' WHERE id = 'bad'").await;
        app.clock.advance(chrono::TimeDelta::seconds(10));
        let listed = app.get("/v1/limits", &k.admin).await;
        assert_eq!(listed.status(), 200);
        let ids: Vec<Value> = body(listed).await.as_array().expect("list").iter()
            .map(|l| l["id"].clone()).collect();
        assert!(ids.contains(&json!("good")) && !ids.contains(&json!("bad")), "{ids:?}");
        let mut second = restart(&mut app).await;
        let check = json!({"subject": {"user": Uuid::new_v4().to_string()},
            "metric": "chat_tokens", "amount": 1});
        second.post(CHECK, &k.admin, &check).await;
        let third = restart(&mut second).await;
        assert_eq!(third.get("/v1/limits", &k.admin).await.status(), 200);
    }

    async fn a_principal_id_longer_than_a_selector_allows_is_422_and_the_server_still_starts(app) {
        let org = crate::confluent::org(&app).await;
        let longest = "p".repeat(255);
        let created = crate::confluent::call(&app, Some(&org.admin), reqwest::Method::POST,
            crate::confluent::COLLECTION,
            Some(&crate::confluent::quota("q", "env-1", "lkc-1", &[&longest]))).await;
        assert_eq!(created.status, 202, "{}", created.body);
        let too_long = "p".repeat(256);
        let refused = crate::confluent::call(&app, Some(&org.admin), reqwest::Method::POST,
            crate::confluent::COLLECTION,
            Some(&crate::confluent::quota("q", "env-1", "lkc-1", &[&too_long]))).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        let admin = app.key_for(&org.tenant, &["admin"], None).await;
        let produce = json!({"subject": {"environment": "env-1", "kafka_cluster": "lkc-1",
            "principal": longest}, "metric": "kafka_ingress_bytes", "amount": 1000});
        assert_eq!(app.post(CONSUME, &admin, &produce).await.status(), 200);
        assert_eq!(app.post(CONSUME, &admin, &produce).await.status(), 429);
        assert_eq!(app.get("/v1/limits", &admin).await.status(), 200);
        let check = json!({"subject": {"user": Uuid::new_v4().to_string()},
            "metric": "chat_tokens", "amount": 1});
        app.post(CHECK, &admin, &check).await;
        let again = restart(&mut app).await;
        assert_eq!(again.get("/v1/limits", &admin).await.status(), 200);
        assert_eq!(again.post(CONSUME, &admin, &produce).await.status(), 429);
    }
}

on_both_backends! {
    async fn a_tenant_admin_lowers_its_applied_quota_but_only_the_operator_raises_it(app) {
        let k = keys(&app).await;
        let path = "/v1/applied-quotas/iam.max_api_keys.per_org";
        let set = |limit: i64| json!({"scope": "ORGANIZATION", "applied_limit": limit});
        assert_eq!(app.put(path, &k.admin, &set(2_147_483_647)).await.status(), 403);
        assert_eq!(app.put(path, &k.admin, &set(50)).await.status(), 200);
        assert_eq!(app.put(path, &k.admin, &set(100)).await.status(), 200, "back to the default");
        let operator = json!({"organization": k.tenant, "scope": "ORGANIZATION",
            "applied_limit": 500});
        assert_eq!(app.put(path, &app.system, &operator).await.status(), 200);
        assert_eq!(app.put(path, &k.admin, &set(400)).await.status(), 200);
        assert_eq!(app.put(path, &k.admin, &set(500)).await.status(), 403);
    }
}

on_both_backends! {
    async fn the_server_restarts_cleanly_on_a_database_holding_every_kind_of_row(app) {
        let k = keys(&app).await;
        let native = json!({"subject": {}, "metric": "m", "amount": 3, "window": {"kind": "day"},
            "per": ["user"]});
        assert_eq!(app.put("/v1/limits/m", &k.admin, &native).await.status(), 201);
        let consume = json!({"subject": {"user": "u1"}, "metric": "m", "amount": 1});
        let replayable = app.request(reqwest::Method::POST, CONSUME, &k.admin)
            .header("Idempotency-Key", "once").json(&consume).send().await.expect("consume");
        assert_eq!(replayable.status(), 200);
        let lease = json!({"subject": {}, "metric": "m", "amount": 1, "ttl_seconds": 60});
        assert_eq!(app.post("/v1/leases", &k.admin, &lease).await.status(), 201);
        app.post(CONSUME, &k.user, &tokens(&k.user_id.to_string(), 5)).await;
        app.set_quota_ok(&k.staff, json!({"user_uuid": k.user_id, "daily_limit": 10})).await;
        let org = crate::confluent::org(&app).await;
        crate::confluent::create(&app, &org, &crate::confluent::quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let template = app.post("/v1/quota-templates", &k.admin,
            &json!({"name": "gold", "rules": [{"rule": "requests", "limit": 5}]})).await;
        assert_eq!(template.status(), 201);
        let quota = json!({"resourceType": "deployment", "resourceId": "d1",
            "defaultRules": [{"rule": "requests", "limit": 5}],
            "policies": [{"consumerType": "user", "consumerId": "c1",
                "rules": [{"rule": "token", "limit": 9}]}]});
        assert_eq!(app.post("/api/v2/quotas/", &k.admin, &quota).await.status(), 201);
        let mut zitadel = quota_body();
        zitadel["notifications"] = json!([{"percent": 50, "repeat": true,
            "callUrl": "https://hooks.example.com/q"}]);
        assert_eq!(app.add_quota(&app.system, &k.tenant, &zitadel).await.status(), 200);
        let code = json!({"scope": "ORGANIZATION", "display_name": "Widgets", "default_limit": 5});
        assert_eq!(app.put("/v1/service-quota-codes/svc.widgets.per_org", &app.system, &code)
            .await.status(), 201);
        let lower = json!({"scope": "ORGANIZATION", "applied_limit": 50});
        assert_eq!(app.put("/v1/applied-quotas/iam.max_api_keys.per_org", &k.admin, &lower)
            .await.status(), 200);

        let again = restart(&mut app).await;
        assert_eq!(again.get("/readyz", &k.admin).await.status(), 200);
        for path in ["/v1/limits", "/api/v2/quotas/", "/api/v2/quotaTemplates/"] {
            assert_eq!(again.get(path, &k.admin).await.status(), 200, "{path}");
        }
        assert_eq!(again.get(&format!("/v1/tenants/{}/api-keys", k.tenant), &again.system)
            .await.status(), 200);
        let replay = again.request(reqwest::Method::POST, CONSUME, &k.admin)
            .header("Idempotency-Key", "once").json(&consume).send().await.expect("replay");
        assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert_eq!(again.post(CONSUME, &k.user, &tokens(&k.user_id.to_string(), 6)).await.status(), 429);
    }
}

fn quota_body() -> Value {
    quota(REQUESTS, 1000, true)
}
