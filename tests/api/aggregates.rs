//! Quotas as aggregates: a vendor quota, its limits and its unit of an applied quota commit
//! together or not at all. A failure is injected between the steps with a trigger that refuses
//! one of the writes, as a crash or a broken connection would stop it.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::confluent::{COLLECTION, call, client_quota_limits, create, org, quota};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, body};

/// Refuses every insert into `table` that matches `when` (SQL over `NEW`), until lifted.
pub(crate) async fn fail_inserts(app: &TestApp, table: &str, when: &str) {
    fail(app, "INSERT", table, when).await;
}

async fn fail(app: &TestApp, event: &str, table: &str, when: &str) {
    match app.backend {
        Backend::Sqlite => {
            let sql = format!(
                "CREATE TRIGGER qp_fail BEFORE {event} ON {table} WHEN {when} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            );
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query(&sql).execute(&mut c).await.expect("trigger");
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            sqlx::query(
                "CREATE OR REPLACE FUNCTION qp_fail() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .execute(&mut c)
            .await
            .expect("function");
            let sql = format!(
                "CREATE TRIGGER qp_fail BEFORE {event} ON {table} FOR EACH ROW WHEN ({when}) \
                 EXECUTE FUNCTION qp_fail()"
            );
            sqlx::query(&sql).execute(&mut c).await.expect("trigger");
        }
    }
}

pub(crate) async fn lift(app: &TestApp, table: &str) {
    let sql = match app.backend {
        Backend::Sqlite => "DROP TRIGGER qp_fail".to_owned(),
        Backend::Postgres => format!("DROP TRIGGER qp_fail ON {table}"),
    };
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query(&sql).execute(&mut c).await.expect("drop");
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("pg");
            sqlx::query(&sql).execute(&mut c).await.expect("drop");
        }
    }
}

/// The cluster's client-quota count, as its applied quota shows it (0 when nothing counted).
async fn quotas_counted(app: &TestApp, auth: &str) -> i64 {
    let path = "/service-quota/v1/applied-quotas/kafka.max_client_quotas.per_cluster\
                ?environment=env-1&kafka_cluster=lkc-1";
    let reply = call(app, Some(auth), Method::GET, path, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["usage"].as_i64().unwrap_or(0)
}

async fn quotas_listed(app: &TestApp, auth: &str) -> i64 {
    let path = format!("{COLLECTION}?environment=env-1&spec.cluster=lkc-1");
    let reply = call(app, Some(auth), Method::GET, &path, None).await;
    reply.body["metadata"]["total_size"]
        .as_i64()
        .expect("total_size")
}

const EGRESS: &str = "NEW.metric = 'kafka_egress_bytes'";

on_both_backends! {
    async fn a_client_quota_whose_limits_cannot_be_written_leaves_nothing_and_a_retry_succeeds(app) {
        let org = org(&app).await;
        let body = quota("q", "env-1", "lkc-1", &["sa-1"]);
        fail_inserts(&app, "limits", EGRESS).await;
        let failed = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&body)).await;
        assert_eq!(failed.status, 500, "{}", failed.body);
        assert_eq!(quotas_listed(&app, &org.admin).await, 0);
        assert!(client_quota_limits(&app, &org.admin).await.is_empty());
        assert_eq!(quotas_counted(&app, &org.admin).await, 0);
        lift(&app, "limits").await;
        create(&app, &org, &body).await;
        assert_eq!(quotas_listed(&app, &org.admin).await, 1);
        assert_eq!(client_quota_limits(&app, &org.admin).await.len(), 2);
        assert_eq!(quotas_counted(&app, &org.admin).await, 1);
    }

    async fn an_update_that_fails_half_way_leaves_the_quota_and_its_limits_as_they_were(app) {
        let org = org(&app).await;
        let made = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let path = format!("{COLLECTION}/{}", made["id"].as_str().expect("id"));
        let change = json!({"spec": {"environment": {"id": "env-1"},
            "throughput": {"ingress_byte_rate": "7", "egress_byte_rate": "8"},
            "principals": [{"id": "sa-2"}]}});
        fail_inserts(&app, "limits", EGRESS).await;
        let failed = call(&app, Some(&org.admin), Method::PATCH, &path, Some(&change)).await;
        assert_eq!(failed.status, 500, "{}", failed.body);
        let now = call(&app, Some(&org.admin), Method::GET, &path, None).await;
        assert_eq!(now.body["spec"]["throughput"]["ingress_byte_rate"], "1000");
        assert_eq!(now.body["spec"]["principals"][0]["id"], "sa-1");
        let limits = client_quota_limits(&app, &org.admin).await;
        assert_eq!(limits.len(), 2);
        assert!(limits.iter().all(|l| l["subject"]["principal"] == "sa-1"), "{limits:?}");
        lift(&app, "limits").await;
        let done = call(&app, Some(&org.admin), Method::PATCH, &path, Some(&change)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let limits = client_quota_limits(&app, &org.admin).await;
        assert!(limits.iter().all(|l| l["subject"]["principal"] == "sa-2"), "{limits:?}");
    }

    async fn a_delete_that_fails_half_way_leaves_the_quota_enforced_and_counted(app) {
        let org = org(&app).await;
        let made = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let path = format!("{COLLECTION}/{}", made["id"].as_str().expect("id"));
        fail(&app, "DELETE", "limits", "OLD.metric = 'kafka_egress_bytes'").await;
        let failed = call(&app, Some(&org.admin), Method::DELETE, &path, None).await;
        assert_eq!(failed.status, 500, "{}", failed.body);
        assert_eq!(call(&app, Some(&org.admin), Method::GET, &path, None).await.status, 200);
        assert_eq!(client_quota_limits(&app, &org.admin).await.len(), 2);
        assert_eq!(quotas_counted(&app, &org.admin).await, 1);
        lift(&app, "limits").await;
        assert_eq!(call(&app, Some(&org.admin), Method::DELETE, &path, None).await.status, 204);
        assert_eq!(quotas_counted(&app, &org.admin).await, 0);
        assert!(client_quota_limits(&app, &org.admin).await.is_empty());
    }

    async fn a_key_whose_insert_fails_takes_no_unit_of_the_key_quota(app) {
        let tenant = app.create_tenant("keys").await;
        let keys = format!("/v1/tenants/{tenant}/api-keys");
        let counted = |v: Value| v["usage"]["used"].as_i64().unwrap_or(0);
        let unit = format!("/v1/tenants/{tenant}/limits/service-quota.iam.max_api_keys.per_org");
        app.post(&keys, &app.system, &json!({"roles": ["user"]})).await;
        let before = counted(body(app.get(&unit, &app.system).await).await);
        assert_eq!(before, 1);
        fail_inserts(&app, "api_keys", "NEW.description = 'doomed'").await;
        let failed = app.post(&keys, &app.system,
            &json!({"roles": ["user"], "description": "doomed"})).await;
        assert_eq!(failed.status(), 500);
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 1);
        lift(&app, "api_keys").await;
        let made = app.post(&keys, &app.system,
            &json!({"roles": ["user"], "description": "doomed"})).await;
        assert_eq!(made.status(), 201);
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 2);
    }
}

/// How many DataRobot quotas the tenant of `admin` lists, and how many limits they own.
async fn datarobot_state(app: &TestApp, admin: &str) -> (u64, usize) {
    let listed = body(app.get("/api/v2/quotas/", admin).await).await;
    let limits = body(app.get("/v1/limits", admin).await).await;
    let owned = limits
        .as_array()
        .expect("limits")
        .iter()
        .filter(|l| {
            l["owner"]
                .as_str()
                .is_some_and(|o| o.starts_with("datarobot:"))
        })
        .count();
    (listed["totalCount"].as_u64().expect("totalCount"), owned)
}

on_both_backends! {
    async fn a_datarobot_quota_is_written_and_deleted_whole_or_not_at_all(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let unit = format!("/v1/tenants/{tenant}/limits/service-quota.datarobot.max_quotas.per_org");
        let counted = |v: Value| v["usage"]["used"].as_i64().unwrap_or(0);
        let request = json!({"resourceType": "deployment", "resourceId": "dep-1",
            "defaultRules": [{"rule": "requests", "limit": 10}, {"rule": "token", "limit": 50}]});
        fail_inserts(&app, "limits", "NEW.metric = 'datarobot.token'").await;
        assert_eq!(app.post("/api/v2/quotas/", &admin, &request).await.status(), 500);
        assert_eq!(datarobot_state(&app, &admin).await, (0, 0));
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 0);
        lift(&app, "limits").await;
        let made = app.post("/api/v2/quotas/", &admin, &request).await;
        assert_eq!(made.status(), 201);
        let id = body(made).await["id"].as_str().expect("id").to_owned();
        assert_eq!(datarobot_state(&app, &admin).await, (1, 2));
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 1);
        fail(&app, "DELETE", "limits", "OLD.metric = 'datarobot.token'").await;
        assert_eq!(app.delete(&format!("/api/v2/quotas/{id}/"), &admin).await.status(), 500);
        assert_eq!(datarobot_state(&app, &admin).await, (1, 2));
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 1);
        lift(&app, "limits").await;
        assert_eq!(app.delete(&format!("/api/v2/quotas/{id}/"), &admin).await.status(), 204);
        assert_eq!(datarobot_state(&app, &admin).await, (0, 0));
        assert_eq!(counted(body(app.get(&unit, &app.system).await).await), 0);
    }
}

on_both_backends! {
    async fn a_zitadel_quota_whose_notifications_cannot_be_written_is_not_added_and_a_retry_succeeds(app) {
        let tenant = app.create_tenant("instance").await;
        let mut quota = crate::zitadel::quota(crate::zitadel::REQUESTS, 10, true);
        quota["notifications"] = json!([{"percent": 50, "repeat": false,
            "callUrl": "https://hooks.example.com/q"}]);
        let limit = format!("/v1/tenants/{tenant}/limits/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED");
        fail_inserts(&app, "limit_notifications", "NEW.percent = 50").await;
        let failed = app.add_quota(&app.system, &tenant, &quota).await;
        assert_eq!(failed.status(), 500);
        assert_eq!(app.get(&limit, &app.system).await.status(), 404);
        lift(&app, "limit_notifications").await;
        let added = app.add_quota(&app.system, &tenant, &quota).await;
        assert_eq!(added.status(), 200, "not 409: the failed add left nothing");
        assert_eq!(app.get(&limit, &app.system).await.status(), 200);
        let removed = app.remove_quota(&app.system, &tenant, crate::zitadel::REQUESTS).await;
        assert_eq!(removed.status(), 200);
        assert_eq!(app.get(&limit, &app.system).await.status(), 404);
    }
}

on_both_backends! {
    async fn an_applied_quota_adjustment_without_its_audit_record_is_not_made(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let path = "/v1/applied-quotas/iam.max_api_keys.per_org";
        let unit = format!("/v1/tenants/{tenant}/limits/service-quota.iam.max_api_keys.per_org");
        let lower = json!({"scope": "ORGANIZATION", "applied_limit": 40});
        fail_inserts(&app, "service_quota_adjustments", "NEW.new_limit = 40").await;
        assert_eq!(app.put(path, &admin, &lower).await.status(), 500);
        assert_eq!(body(app.get(&unit, &app.system).await).await["amount"], 100);
        lift(&app, "service_quota_adjustments").await;
        assert_eq!(app.put(path, &admin, &lower).await.status(), 200);
        assert_eq!(body(app.get(&unit, &app.system).await).await["amount"], 40);
        let audit = body(app.get(&format!("{path}/adjustments"), &admin).await).await;
        assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    }
}
