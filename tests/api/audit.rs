//! The audit log: every write leaves one record in its own transaction (a failed write none),
//! with who, what, before and after (never a secret); `GET /v1/audit` lists a tenant's records
//! to its admins and every tenant's to system keys, newest first, filtered and paged.

use chrono::TimeDelta;
use quotaplane::domain::retention::{Retention, RetentionStore};
use quotaplane::seed::apply_file;
use quotaplane::store::AnyStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::aggregates::{fail_inserts, lift};
use crate::confluent::{COLLECTION, call, create, org, quota};
use crate::on_both_backends;
use crate::seed::{TENANT, every_kind, seeder};
use crate::support::{TestApp, body, test_epoch};

fn limit(amount: i64) -> Value {
    json!({"subject": {}, "metric": "m", "amount": amount, "window": {"kind": "minute"}})
}

/// `GET /v1/audit{query}` as `key` (a Bearer secret, or a whole `Basic …` credential): the
/// records, asserting a 200.
async fn audit(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let url = format!("{}/v1/audit{query}", app.base);
    let request = match key.strip_prefix("Basic ") {
        Some(_) => app.client.get(url).header("Authorization", key),
        None => app.client.get(url).bearer_auth(key),
    };
    let response = request.send().await.expect("GET");
    assert_eq!(response.status(), 200, "GET /v1/audit{query}");
    body(response).await.as_array().expect("array").clone()
}

fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["resource"]["type"] == kind)
        .collect()
}

on_both_backends! {
    async fn creating_updating_and_deleting_a_native_limit_appends_three_records_with_before_and_after(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        assert_eq!(app.put("/v1/limits/l1", &admin, &limit(5)).await.status(), 201);
        assert_eq!(app.put("/v1/limits/l1", &admin, &limit(7)).await.status(), 200);
        assert_eq!(app.delete("/v1/limits/l1", &admin).await.status(), 204);

        let records = audit(&app, &admin, "?resource_type=limit&resource_id=l1").await;
        let actions: Vec<&str> = records.iter().map(|r| r["action"].as_str().unwrap_or("")).collect();
        assert_eq!(actions, ["delete", "update", "create"], "newest first");
        let (delete, update, create) = (&records[0], &records[1], &records[2]);
        assert_eq!(create["before"], Value::Null);
        assert_eq!(create["after"]["amount"], 5);
        assert_eq!(update["before"]["amount"], 5);
        assert_eq!(update["after"]["amount"], 7);
        assert_eq!(delete["before"]["amount"], 7);
        assert_eq!(delete["after"], Value::Null);
        for r in &records {
            assert_eq!(r["tenant_id"], tenant.as_str());
            assert_eq!(r["resource"]["id"], "l1");
            assert_eq!(r["actor"]["roles"], json!(["admin"]));
            assert!(r["actor"]["key_id"].is_string(), "the admin's key: {r}");
            assert!(r["at"].is_string() && r["id"].is_string());
        }
    }

    async fn a_key_creation_is_recorded_without_its_secret(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let key = app.create_key(&tenant, &json!({"roles": ["user"], "description": "ci"})).await;
        let secret = key["secret"].as_str().expect("secret");
        let id = key["id"].as_str().expect("id");

        let records = audit(&app, &admin, &format!("?resource_type=key&resource_id={id}")).await;
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record["action"], "create");
        assert_eq!(record["after"]["roles"], json!(["user"]));
        assert_eq!(record["actor"]["roles"], json!(["system"]), "made by the system key");
        let text = record.to_string();
        assert!(!text.contains(secret), "no secret in {text}");
        assert!(!text.contains("hash"), "no hash in {text}");

        assert_eq!(app.delete(&format!("/v1/tenants/{tenant}/api-keys/{id}"), &admin).await.status(), 204);
        let records = audit(&app, &admin, &format!("?resource_type=key&resource_id={id}")).await;
        assert_eq!(records[0]["action"], "delete");
        assert_eq!(records[0]["before"]["description"], "ci");
    }

    async fn the_limits_the_server_makes_with_a_tenant_are_recorded_with_no_key(app) {
        // A tenant's applied quotas have their defaults from the start: the key quota's is made
        // with the tenant, before its first key takes a unit of it.
        let (_, admin) = app.tenant_with_admin().await;
        let id = "service-quota.iam.max_api_keys.per_org";
        let records = audit(&app, &admin, &format!("?resource_type=limit&resource_id={id}")).await;
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["action"], "create");
        assert_eq!(records[0]["actor"]["key_id"], Value::Null);
        assert_eq!(records[0]["after"]["metric"], "iam.max_api_keys.per_org");
    }

    async fn a_confluent_client_quota_write_is_audited(app) {
        let org = org(&app).await;
        let made = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = made["id"].as_str().expect("id");

        let records = audit(&app, &org.admin, "?resource_type=confluent_client_quota").await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["resource"]["id"], id);
        assert_eq!(records[0]["action"], "create");
        assert_eq!(records[0]["after"]["principals"], json!(["sa-1"]));
        assert_eq!(records[0]["after"]["throughput"]["egress_byte_rate"], 2000);
    }

    async fn a_write_that_fails_appends_nothing_and_a_record_that_cannot_be_kept_fails_the_write(app) {
        let org = org(&app).await;
        fail_inserts(&app, "limits", "NEW.metric = 'kafka_egress_bytes'").await;
        let failed = call(&app, Some(&org.admin), Method::POST, COLLECTION,
            Some(&quota("q", "env-1", "lkc-1", &["sa-1"]))).await;
        assert_eq!(failed.status, 500);
        lift(&app, "limits").await;
        assert!(audit(&app, &org.admin, "?resource_type=confluent_client_quota").await.is_empty());

        // The record is part of the change: when it cannot be written, neither is the limit.
        let (_, admin) = app.tenant_with_admin().await;
        fail_inserts(&app, "audit_log", "NEW.resource_type = 'limit'").await;
        assert_eq!(app.put("/v1/limits/l1", &admin, &limit(5)).await.status(), 500);
        lift(&app, "audit_log").await;
        assert_eq!(app.get("/v1/limits/l1", &admin).await.status(), 404);
        assert!(audit(&app, &admin, "?resource_type=limit&resource_id=l1").await.is_empty());
    }

    async fn a_tenants_admin_sees_only_its_own_records_and_a_system_key_sees_every_tenants(app) {
        let (a, admin_a) = app.tenant_with_admin().await;
        let (b, admin_b) = app.tenant_with_admin().await;
        assert_eq!(app.put("/v1/limits/la", &admin_a, &limit(1)).await.status(), 201);
        assert_eq!(app.put("/v1/limits/lb", &admin_b, &limit(1)).await.status(), 201);

        let seen_by_a = audit(&app, &admin_a, "").await;
        assert!(!seen_by_a.is_empty());
        assert!(seen_by_a.iter().all(|r| r["tenant_id"] == a.as_str()), "{seen_by_a:?}");
        let response = app.get(&format!("/v1/audit?tenant_id={b}"), &admin_a).await;
        assert_eq!(response.status(), 404, "another tenant is not there");

        let all = audit(&app, &app.system, "?resource_type=limit").await;
        let ids: Vec<&str> = all.iter().map(|r| r["resource"]["id"].as_str().unwrap_or("")).collect();
        assert!(ids.contains(&"la") && ids.contains(&"lb"), "{ids:?}");
        let only_b = audit(&app, &app.system, &format!("?tenant_id={b}")).await;
        assert!(!only_b.is_empty());
        assert!(only_b.iter().all(|r| r["tenant_id"] == b.as_str()));

        let user = app.key_for(&a, &["user"], None).await;
        assert_eq!(app.get("/v1/audit", &user).await.status(), 403);
    }

    async fn filters_narrow_the_log_and_a_bad_value_is_a_400_naming_its_parameter(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        assert_eq!(app.put("/v1/limits/l1", &admin, &limit(1)).await.status(), 201);
        assert_eq!(app.put("/v1/limits/l2", &admin, &limit(1)).await.status(), 201);
        let records = audit(&app, &admin, "").await;
        // l1, l2, and what the server made with the tenant: its seven applied-quota defaults
        // and its three chat-token defaults.
        assert_eq!(of_type(&records, "limit").len(), 12);
        assert!(!of_type(&records, "key").is_empty(), "the admin key's own creation");
        assert!(!of_type(&records, "tenant").is_empty());
        assert_eq!(records.iter().filter(|r| r["tenant_id"] != tenant.as_str()).count(), 0);

        assert_eq!(audit(&app, &admin, "?resource_type=limit&resource_id=l2").await.len(), 1);
        let epoch = test_epoch();
        let before = (epoch - TimeDelta::seconds(1)).to_rfc3339();
        let after = (epoch + TimeDelta::seconds(1)).to_rfc3339();
        let q = |from: &str, to: &str| format!("?resource_type=limit&from={}&to={}",
            urlencode(from), urlencode(to));
        assert_eq!(audit(&app, &admin, &q(&before, &after)).await.len(), 12);
        assert!(audit(&app, &admin, &q(&after, &after)).await.is_empty());

        for (query, named) in [
            ("?resource_type=widget", "resource_type"),
            ("?from=yesterday", "from"),
            ("?to=2026-13-01T00:00:00Z", "to"),
            ("?tenant_id=nope", "tenant_id"),
            ("?limit=0", "limit"),
        ] {
            let response = app.get(&format!("/v1/audit{query}"), &admin).await;
            assert_eq!(response.status(), 400, "{query}");
            let problem = body(response).await;
            assert_eq!(problem["errors"][0]["parameter"], named, "{query}: {problem}");
        }
    }

    async fn the_log_is_paged_newest_first_and_the_next_page_keeps_the_filters(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for i in 0..5 {
            assert_eq!(app.put(&format!("/v1/limits/l{i}"), &admin, &limit(1)).await.status(), 201);
        }
        let mut seen = Vec::new();
        let mut next = Some(format!("{}/v1/audit?resource_type=limit&limit=2", app.base));
        while let Some(url) = next.take() {
            let response = app.client.get(&url).bearer_auth(&admin).send().await.expect("GET");
            assert_eq!(response.status(), 200);
            next = response.headers().get("link").map(|l| {
                let l = l.to_str().expect("link");
                assert!(l.contains("resource_type=limit"), "filters kept: {l}");
                l.trim_start_matches('<').split('>').next().expect("url").to_owned()
            });
            let page = body(response).await;
            assert!(page.as_array().expect("array").len() <= 2);
            for r in page.as_array().expect("array") {
                seen.push(r["resource"]["id"].as_str().expect("id").to_owned());
            }
        }
        // Oldest: what the server made with the tenant, its applied-quota defaults (one per
        // code, in the catalogue's order) after its chat-token defaults.
        let applied = ["sd.max_pipelines.per_organization", "kafka.max_kafka_clusters.per_env",
            "kafka.max_client_quotas.per_cluster", "iam.max_kafka_clusters.per_org",
            "iam.max_environments.per_org", "iam.max_api_keys.per_org", "datarobot.max_quotas.per_org"]
            .map(|code| format!("service-quota.{code}"));
        let chat = ["waldur-chat-monthly-default", "waldur-chat-weekly-default", "waldur-chat-daily-default"];
        let oldest: Vec<&str> = ["l4", "l3", "l2", "l1", "l0"].into_iter()
            .chain(applied.iter().map(String::as_str)).chain(chat).collect();
        assert_eq!(seen, oldest, "newest first, each once");
    }

    async fn seed_application_records_every_kind_it_writes_with_no_key_and_a_rerun_nothing(app) {
        apply_file(&seeder(&app).await, &every_kind()).await.expect("applies");
        let query = format!("?tenant_id={TENANT}&limit=1000");
        let records = audit(&app, &app.system, &query).await;
        let mut kinds: Vec<&str> = records.iter().map(|r| r["resource"]["type"].as_str().unwrap_or("")).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in ["tenant", "key", "limit", "confluent_client_quota", "datarobot_quota",
            "datarobot_template", "waldur_chat_quota", "zitadel_quota"] {
            assert!(kinds.contains(&kind), "{kind} among {kinds:?}");
        }
        assert!(records.iter().all(|r| r["actor"]["key_id"].is_null()), "seeded, not by a key");
        assert!(records.iter().all(|r| r["action"] == "create"));

        apply_file(&seeder(&app).await, &every_kind()).await.expect("applies again");
        assert_eq!(audit(&app, &app.system, &query).await.len(), records.len(), "nothing changed");
    }

    async fn each_surfaces_write_leaves_one_record_of_its_kind(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        // ZITADEL: a quota added, set and removed; limits set and reset (system keys).
        let add = crate::zitadel::quota(crate::zitadel::REQUESTS, 100, false);
        assert_eq!(app.add_quota(&app.system, &tenant, &add).await.status(), 200);
        let set = crate::zitadel::quota(crate::zitadel::REQUESTS, 200, false);
        assert_eq!(app.set_instance_quota(&app.system, &tenant, &set).await.status(), 200);
        assert_eq!(app.remove_quota(&app.system, &tenant, crate::zitadel::REQUESTS).await.status(), 200);
        assert_eq!(app.set_limits(&app.system, &tenant, &json!({"auditLogRetention": "3600s"})).await.status(), 200);
        assert_eq!(app.reset_limits(&app.system, &tenant).await.status(), 200);
        // DataRobot: a template and a quota.
        let template = json!({"name": "t", "rules": [{"rule": "requests", "limit": 5, "window": "min"}]});
        assert_eq!(app.post("/v1/quota-templates", &admin, &template).await.status(), 201);
        let quota = json!({"resourceType": "deployment", "resourceId": "dep-1",
            "defaultRules": [{"rule": "requests", "limit": 5, "window": "min"}]});
        assert_eq!(app.post("/api/v2/quotas/", &admin, &quota).await.status(), 201);
        // An applied quota lowered by the tenant's admin.
        let lower = json!({"scope": "ORGANIZATION", "applied_limit": 50});
        assert_eq!(app.put("/v1/applied-quotas/iam.max_api_keys.per_org", &admin, &lower).await.status(), 200);
        // A Waldur user's chat quota, by staff.
        let user = uuid::Uuid::new_v4();
        let staff = app.key_for(&tenant, &["staff"], Some(user)).await;
        app.set_quota_ok(&staff, json!({"user_uuid": user.to_string(), "daily_limit": 10})).await;

        // Alerts: a target made, rules set on a limit and taken off, the target deleted.
        assert_eq!(app.put("/v1/limits/watched", &admin, &limit(10)).await.status(), 201);
        let target = body(app.post("/v1/alert-targets", &admin, &json!({"url": "https://hooks.example/q"})).await).await;
        let target_id = target["id"].as_str().unwrap_or_default().to_owned();
        let rules = json!([{"threshold": {"percent": 80}, "target_id": target_id}]);
        assert_eq!(app.put("/v1/limits/watched/alerts", &admin, &rules).await.status(), 200);
        assert_eq!(app.put("/v1/limits/watched/alerts", &admin, &json!([])).await.status(), 200);
        assert_eq!(app.delete(&format!("/v1/alert-targets/{target_id}"), &admin).await.status(), 204);

        let records = audit(&app, &admin, "?limit=1000").await;
        let actions = |kind: &str| -> Vec<String> {
            let mut found: Vec<String> = of_type(&records, kind).iter()
                .map(|r| r["action"].as_str().unwrap_or("").to_owned()).collect();
            found.reverse();
            found
        };
        assert_eq!(actions("zitadel_quota"), ["create", "update", "delete"]);
        assert_eq!(actions("zitadel_limits"), ["create", "delete"]);
        assert_eq!(actions("datarobot_template"), ["create"]);
        assert_eq!(actions("datarobot_quota"), ["create"]);
        assert_eq!(actions("applied_quota"), ["update"]);
        assert_eq!(actions("waldur_chat_quota"), ["create"]);
        assert_eq!(actions("alert_target"), ["create", "delete"]);
        assert_eq!(actions("alert_rules"), ["create", "delete"]);
        let target_record = of_type(&records, "alert_target")[1];
        assert_eq!(target_record["after"]["url"], "https://hooks.example/q");
        assert!(!target_record.to_string().contains("whsec_"), "no secret: {target_record}");
        assert_eq!(of_type(&records, "alert_rules")[1]["after"][0]["threshold"]["percent"], 80);
        let chat = of_type(&records, "waldur_chat_quota")[0];
        assert_eq!(chat["after"]["daily_limit"], 10);
        assert_eq!(chat["actor"]["roles"], json!(["staff"]));
        let applied = of_type(&records, "applied_quota")[0];
        assert_eq!(applied["after"]["amount"], 50);
        assert_eq!(of_type(&records, "zitadel_quota")[1]["after"]["limit"]["amount"], 200);
    }

    async fn records_past_the_audit_retention_are_swept(app) {
        let (_, admin) = app.tenant_with_admin().await;
        assert_eq!(app.put("/v1/limits/l1", &admin, &limit(1)).await.status(), 201);
        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let retention = Retention::default();
        let at = |days| (test_epoch() + TimeDelta::days(days)).timestamp_millis();
        let swept = store.sweep_retained(at(89), &retention).await.expect("sweep");
        assert_eq!(swept.audit, 0, "kept 90 days");
        assert!(!audit(&app, &admin, "?resource_type=limit").await.is_empty());
        let swept = store.sweep_retained(at(91), &retention).await.expect("sweep");
        assert!(swept.audit > 0);
        assert!(audit(&app, &admin, "").await.is_empty());
    }
}

/// Percent-encodes what RFC 3339 puts in a query (`+` and `:`).
fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}
