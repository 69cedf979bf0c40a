//! Applied quotas (`/service-quota/v1`): the catalogue read as Confluent serves it (every body
//! checked against the vendor's schemas), quotaplane's own resources counted and refused at
//! their applied limit, limits adjusted natively, usage of operator-defined codes reported
//! through the engine.

use reqwest::Method;
use serde_json::{Value, json};

use super::{COLLECTION, Org, Reply, call, create, org, quota};
use crate::on_both_backends;
use crate::support::{TestApp, body};

const APPLIED: &str = "/service-quota/v1/applied-quotas";
const KAFKA: &str = "kafka.max_client_quotas.per_cluster";
const KEYS: &str = "iam.max_api_keys.per_org";
const DATAROBOT: &str = "datarobot.max_quotas.per_org";
/// Confluent's documented code, the example of its own spec.
const ENVIRONMENTS: &str = "iam.max_environments.per_org";

async fn read(app: &TestApp, auth: &str, path: &str) -> Reply {
    call(app, Some(auth), Method::GET, path, None).await
}

/// `PUT` on a native path with Basic `auth`: status and body.
async fn put(app: &TestApp, auth: &str, path: &str, request: &Value) -> (u16, Value) {
    let response = app
        .client
        .put(format!("{}{path}", app.base))
        .header("Authorization", auth)
        .json(request)
        .send()
        .await
        .expect("PUT");
    let status = response.status().as_u16();
    (status, body(response).await)
}

/// Sets the applied limit of the client quotas of `lkc-1` in `env-1`.
async fn cluster_limit(app: &TestApp, org: &Org, limit: i64) {
    let request = json!({"scope": "KAFKA_CLUSTER", "environment": "env-1",
        "kafka_cluster": "lkc-1", "applied_limit": limit});
    let (status, answer) = put(
        app,
        &org.admin,
        &format!("/v1/applied-quotas/{KAFKA}"),
        &request,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied_limit"], limit);
}

async fn cluster_quota(app: &TestApp, org: &Org) -> Value {
    let reply = read(
        app,
        &org.user,
        &format!("{APPLIED}/{KAFKA}?environment=env-1&kafka_cluster=lkc-1"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn codes(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|q| q["id"].as_str().expect("id").to_owned())
        .collect()
}

on_both_backends! {
    async fn scopes_are_listed_a_page_at_a_time_and_read_by_name_in_any_case(app) {
        let org = org(&app).await;
        let first = read(&app, &org.user, "/service-quota/v1/scopes?page_size=5").await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body["kind"], "ScopeList");
        assert_eq!(first.body["metadata"]["total_size"], 8);
        assert_eq!(first.body["data"].as_array().map(Vec::len), Some(5));
        let next = first.body["metadata"]["next"].as_str().expect("next").to_owned();
        let rest = read(&app, &org.user, next.trim_start_matches(&app.base)).await;
        assert_eq!(rest.body["data"].as_array().map(Vec::len), Some(3));
        assert!(rest.body["metadata"].get("next").is_none());
        let one = read(&app, &org.user, "/service-quota/v1/scopes/kafka_cluster").await;
        assert_eq!((one.status, one.body["id"].clone()), (200, json!("KAFKA_CLUSTER")));
        assert_eq!(read(&app, &org.user, "/service-quota/v1/scopes/cluster").await.status, 404);
        let too_big = read(&app, &org.user, "/service-quota/v1/scopes?page_size=201").await;
        assert_eq!((too_big.status, too_big.error()["source"]["parameter"].clone()), (400, json!("page_size")));
    }

    async fn organization_quotas_show_defaults_and_live_usage_for_a_lower_case_scope(app) {
        let org = org(&app).await;
        let list = read(&app, &org.user, &format!("{APPLIED}?scope=organization")).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(list.body["kind"], "AppliedQuotaList");
        assert_eq!(codes(&list.body), vec![DATAROBOT, KEYS, ENVIRONMENTS, "iam.max_kafka_clusters.per_org",
            "sd.max_pipelines.per_organization"], "quotaplane's own codes and Confluent's documented ones");
        let keys = &list.body["data"][1];
        assert_eq!(keys["scope"], "ORGANIZATION");
        assert_eq!((keys["default_limit"].clone(), keys["applied_limit"].clone()), (json!(100), json!(100)));
        assert_eq!(keys["usage"], 2, "the admin and the user key");
        assert_eq!(keys["organization"]["id"], org.tenant.as_str());
        let one = read(&app, &org.user, &format!("{APPLIED}/{KEYS}")).await;
        assert_eq!((one.status, one.body["usage"].clone()), (200, json!(2)));
        let filtered = read(&app, &org.user, &format!("{APPLIED}?scope=ORGANIZATION&id={DATAROBOT}")).await;
        assert_eq!(codes(&filtered.body), vec![DATAROBOT.to_owned()]);
        assert_eq!(filtered.body["data"][0]["usage"], 0);
    }

    async fn a_cluster_quota_needs_its_references_and_unknown_codes_are_not_found(app) {
        let org = org(&app).await;
        let missing = read(&app, &org.user, &format!("{APPLIED}/{KAFKA}?environment=env-1")).await;
        assert_eq!(missing.status, 400);
        assert_eq!(missing.error()["code"], "invalid_filter");
        assert_eq!(missing.error()["source"]["parameter"], "kafka_cluster");
        let no_scope = read(&app, &org.user, APPLIED).await;
        assert_eq!((no_scope.status, no_scope.error()["source"]["parameter"].clone()), (400, json!("scope")));
        let bad_scope = read(&app, &org.user, &format!("{APPLIED}?scope=galaxy")).await;
        assert_eq!(bad_scope.status, 400);
        assert_eq!(read(&app, &org.user, &format!("{APPLIED}/iam.nothing.per_org")).await.status, 404);
        let quota = cluster_quota(&app, &org).await;
        assert_eq!(quota["scope"], "KAFKA_CLUSTER");
        assert_eq!(quota["kafka_cluster"]["id"], "lkc-1");
        assert_eq!(quota["kafka_cluster"]["environment"], "env-1");
        assert_eq!(quota["environment"]["id"], "env-1");
        assert_eq!((quota["applied_limit"].clone(), quota["usage"].clone()), (json!(100), json!(0)));
        let listed = read(&app, &org.user, &format!("{APPLIED}?scope=KAFKA_CLUSTER&environment=env-1&kafka_cluster=lkc-1")).await;
        assert_eq!(codes(&listed.body), vec![KAFKA.to_owned()]);
    }

    async fn a_client_quota_past_the_applied_limit_is_refused_until_the_limit_is_raised(app) {
        let org = org(&app).await;
        cluster_limit(&app, &org, 2).await;
        let a = create(&app, &org, &quota("a", "env-1", "lkc-1", &["sa-1"])).await;
        create(&app, &org, &quota("b", "env-1", "lkc-1", &["sa-2"])).await;
        let refused = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&quota("c", "env-1", "lkc-1", &["sa-3"]))).await;
        assert_eq!(refused.status, 402, "{}", refused.body);
        assert_eq!(refused.error()["code"], "quota_exceeded");
        assert_eq!(cluster_quota(&app, &org).await["usage"], 2);
        create(&app, &org, &quota("other cluster", "env-1", "lkc-2", &["sa-3"])).await;
        let id = a["id"].as_str().expect("id");
        let deleted = call(&app, Some(&org.admin), Method::DELETE, &format!("{COLLECTION}/{id}"), None).await;
        assert_eq!(deleted.status, 204);
        assert_eq!(cluster_quota(&app, &org).await["usage"], 1, "a delete gives the unit back");
        create(&app, &org, &quota("c", "env-1", "lkc-1", &["sa-3"])).await;
        let clash = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&quota("d", "env-1", "lkc-1", &["sa-3"]))).await;
        assert_eq!(clash.status, 402, "at the limit, the quota check comes first");
        app.clock.advance(chrono::TimeDelta::seconds(1));
        cluster_limit(&app, &org, 3).await;
        let conflict = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&quota("d", "env-1", "lkc-1", &["sa-3"]))).await;
        assert_eq!(conflict.status, 409, "a refused create gives its unit back");
        create(&app, &org, &quota("d", "env-1", "lkc-1", &["sa-4"])).await;
        let now = cluster_quota(&app, &org).await;
        assert_eq!((now["applied_limit"].clone(), now["usage"].clone()), (json!(3), json!(3)));
        let (status, audit) = crate::confluent::native(&app, &org.admin, &format!("/v1/applied-quotas/{KAFKA}/adjustments")).await;
        assert_eq!(status, 200);
        let changes: Vec<(i64, i64)> = audit.as_array().expect("audit").iter()
            .map(|e| (e["old_limit"].as_i64().expect("old"), e["new_limit"].as_i64().expect("new"))).collect();
        assert_eq!(changes, vec![(100, 2), (2, 3)]);
        assert_eq!(audit[0]["references"], json!({"environment": "env-1", "kafka_cluster": "lkc-1"}));
        assert!(audit[0]["key_id"].as_str().is_some_and(|k| !k.is_empty()));
    }

    async fn concurrent_creates_never_pass_the_applied_limit(app) {
        let org = org(&app).await;
        cluster_limit(&app, &org, 5).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (client, base, auth) = (app.client.clone(), app.base.clone(), org.admin.clone());
            let body = quota(&format!("q{i}"), "env-1", "lkc-1", &[&format!("sa-{i}")]);
            tasks.push(tokio::spawn(async move {
                client.post(format!("{base}{COLLECTION}")).header("Authorization", auth)
                    .json(&body).send().await.expect("create").status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.expect("task"));
        }
        assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 5, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 11, "{statuses:?}");
        assert_eq!(cluster_quota(&app, &org).await["usage"], 5);
    }

    async fn api_keys_past_the_limit_are_refused_with_a_problem_that_is_not_a_429(app) {
        let org = org(&app).await;
        let (status, _) = put(&app, &org.admin, &format!("/v1/applied-quotas/{KEYS}"), &json!({"scope": "organization", "applied_limit": 3})).await;
        assert_eq!(status, 200);
        let path = format!("/v1/tenants/{}/api-keys", org.tenant);
        let third = app.client.post(format!("{}{path}", app.base)).header("Authorization", &org.admin)
            .json(&json!({"roles": ["user"]})).send().await.expect("create");
        assert_eq!(third.status(), 201);
        let third = body(third).await;
        let refused = app.client.post(format!("{}{path}", app.base)).header("Authorization", &org.admin)
            .json(&json!({"roles": ["user"]})).send().await.expect("create");
        assert_eq!(refused.status(), 409);
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        assert!(refused.headers().get("retry-after").is_none());
        assert_eq!(body(refused).await["code"], "quota_exceeded");
        let id = third["key"]["id"].as_str().or_else(|| third["id"].as_str()).expect("key id");
        let revoked = app.client.delete(format!("{}{path}/{id}", app.base)).header("Authorization", &org.admin)
            .send().await.expect("revoke");
        assert_eq!(revoked.status(), 204);
        let again = app.client.post(format!("{}{path}", app.base)).header("Authorization", &org.admin)
            .json(&json!({"roles": ["user"]})).send().await.expect("create");
        assert_eq!(again.status(), 201, "a revoked key gives its unit back");
        let now = read(&app, &org.user, &format!("{APPLIED}/{KEYS}")).await;
        assert_eq!((now.body["applied_limit"].clone(), now.body["usage"].clone()), (json!(3), json!(3)));
    }

    async fn datarobot_quotas_past_the_limit_are_refused_in_datarobots_envelope(app) {
        let org = org(&app).await;
        let (status, _) = put(&app, &org.admin, &format!("/v1/applied-quotas/{DATAROBOT}"), &json!({"scope": "ORGANIZATION", "applied_limit": 1})).await;
        assert_eq!(status, 200);
        let rules = json!([{"rule": "requests", "limit": 10, "window": "min"}]);
        let first = app.client.post(format!("{}/api/v2/quotas/", app.base)).header("Authorization", &org.admin)
            .json(&json!({"resourceType": "deployment", "resourceId": "d-1", "defaultRules": rules})).send().await.expect("create");
        assert!(first.status().is_success(), "{}", first.status());
        let first_id = body(first).await["id"].as_str().expect("quota id").to_owned();
        let second = app.client.post(format!("{}/api/v2/quotas/", app.base)).header("Authorization", &org.admin)
            .json(&json!({"resourceType": "deployment", "resourceId": "d-2", "defaultRules": rules})).send().await.expect("create");
        assert_eq!(second.status(), 409);
        let message = body(second).await["message"].as_str().expect("message").to_owned();
        assert!(message.contains(DATAROBOT), "{message}");
        let now = read(&app, &org.user, &format!("{APPLIED}/{DATAROBOT}")).await;
        assert_eq!(now.body["usage"], 1);
        let deleted = app.client.delete(format!("{}/api/v2/quotas/{first_id}/", app.base)).header("Authorization", &org.admin)
            .send().await.expect("delete");
        assert!(deleted.status().is_success(), "{}", deleted.status());
        assert_eq!(read(&app, &org.user, &format!("{APPLIED}/{DATAROBOT}")).await.body["usage"], 0);
        let again = app.client.post(format!("{}/api/v2/quotas/", app.base)).header("Authorization", &org.admin)
            .json(&json!({"resourceType": "deployment", "resourceId": "d-2", "defaultRules": rules})).send().await.expect("create");
        assert!(again.status().is_success(), "a deleted quota frees its place: {}", again.status());
    }

    async fn operator_codes_take_usage_reported_through_the_engine(app) {
        let org = org(&app).await;
        let system = format!("Bearer {}", app.system);
        let define = json!({"scope": "organization", "display_name": "Environments Per Organization", "default_limit": 25});
        let (status, code) = put(&app, &system, "/v1/service-quota-codes/iam.max_environments.per_org", &define).await;
        assert_eq!((status, code["scope"].clone()), (200, json!("ORGANIZATION")), "a documented code already exists: {code}");
        let (again, _) = put(&app, &system, "/v1/service-quota-codes/iam.max_environments.per_org", &define).await;
        assert_eq!(again, 200);
        let (denied, _) = put(&app, &org.admin, "/v1/service-quota-codes/x.y", &define).await;
        assert_eq!(denied, 403);
        let (own, _) = put(&app, &system, &format!("/v1/service-quota-codes/{KEYS}"), &define).await;
        assert_eq!(own, 409);
        let path = format!("{APPLIED}/iam.max_environments.per_org");
        assert!(read(&app, &org.user, &path).await.body.get("usage").is_none(), "nothing reported yet");
        let reported = app.client.post(format!("{}/v1/usage/report", app.base)).header("Authorization", &org.admin)
            .json(&json!({"subject": {}, "metric": "iam.max_environments.per_org", "value": 7})).send().await.expect("report");
        assert_eq!(reported.status(), 200);
        let now = read(&app, &org.user, &path).await;
        assert_eq!((now.body["usage"].clone(), now.body["applied_limit"].clone()), (json!(7), json!(25)));
        let cluster = json!({"scope": "KAFKA_CLUSTER", "display_name": "Topics Per Cluster", "default_limit": 2});
        put(&app, &system, "/v1/service-quota-codes/kafka.max_topics.per_cluster", &cluster).await;
        let consume = |n: i64| app.client.post(format!("{}/v1/usage/consume", app.base)).header("Authorization", &org.admin)
            .json(&json!({"subject": {"environment": "env-1", "kafka_cluster": "lkc-9"}, "metric": "kafka.max_topics.per_cluster", "amount": n})).send();
        assert_eq!(consume(2).await.expect("consume").status(), 200);
        assert_eq!(consume(1).await.expect("consume").status(), 429, "the default limit applies with no adjustment");
        let topics = read(&app, &org.user, &format!("{APPLIED}?scope=kafka_cluster&id=kafka.max_topics.per_cluster")).await;
        assert_eq!(topics.body["data"][0]["usage"], 2);
        assert_eq!(topics.body["data"][0]["kafka_cluster"]["id"], "lkc-9");
    }

    async fn applied_quotas_page_with_signed_tokens_bound_to_their_list(app) {
        let org = org(&app).await;
        let system = format!("Bearer {}", app.system);
        for i in 0..4 {
            let define = json!({"scope": "ORGANIZATION", "display_name": format!("Thing {i}"), "default_limit": 10});
            put(&app, &system, &format!("/v1/service-quota-codes/svc.max_things_{i}.per_org"), &define).await;
        }
        // Four codes of the operator, two of quotaplane's own, three documented ones.
        let first = read(&app, &org.user, &format!("{APPLIED}?scope=ORGANIZATION&page_size=5")).await;
        assert_eq!(first.body["metadata"]["total_size"], 9);
        let mut seen = codes(&first.body);
        let next = first.body["metadata"]["next"].as_str().expect("next").to_owned();
        let rest = read(&app, &org.user, next.trim_start_matches(&app.base)).await;
        seen.extend(codes(&rest.body));
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((seen.len(), sorted.len()), (9, 9));
        let token = next.split("page_token=").nth(1).expect("token").to_owned();
        let moved = read(&app, &org.user, &format!("{APPLIED}?scope=KAFKA_CLUSTER&page_token={token}")).await;
        assert_eq!((moved.status, moved.error()["source"]["parameter"].clone()), (400, json!("page_token")));
        let other = crate::confluent::org(&app).await;
        let stolen = read(&app, &other.user, &format!("{APPLIED}?scope=ORGANIZATION&page_token={token}")).await;
        assert_eq!(stolen.status, 400);
        assert_eq!(read(&app, &org.user, &format!("{APPLIED}?scope=ORGANIZATION&page_size=201")).await.status, 400);
    }

    async fn an_organization_sees_and_adjusts_only_its_own_applied_quotas(app) {
        let a = org(&app).await;
        let b = org(&app).await;
        cluster_limit(&app, &a, 1).await;
        create(&app, &a, &quota("a", "env-1", "lkc-1", &["sa-1"])).await;
        let theirs = cluster_quota(&app, &b).await;
        assert_eq!((theirs["applied_limit"].clone(), theirs["usage"].clone()), (json!(100), json!(0)));
        let listed = read(&app, &b.user, &format!("{APPLIED}?scope=KAFKA_CLUSTER")).await;
        assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(0), "{}", listed.body);
        let request = json!({"organization": a.tenant, "scope": "ORGANIZATION", "applied_limit": 50});
        let (status, _) = put(&app, &b.admin, &format!("/v1/applied-quotas/{KEYS}"), &request).await;
        assert_eq!(status, 404);
        let (user, _) = put(&app, &b.user, &format!("/v1/applied-quotas/{KEYS}"), &json!({"scope": "ORGANIZATION", "applied_limit": 50})).await;
        assert_eq!(user, 403);
        let system = format!("Bearer {}", app.system);
        let (operator, answer) = put(&app, &system, &format!("/v1/applied-quotas/{KEYS}"), &request).await;
        assert_eq!((operator, answer["applied_limit"].clone()), (200, json!(50)));
        let (missing, problem) = put(&app, &a.admin, &format!("/v1/applied-quotas/{KAFKA}"), &json!({"scope": "KAFKA_CLUSTER", "environment": "env-1", "applied_limit": 5})).await;
        assert_eq!(missing, 422);
        assert_eq!(problem["errors"][0]["pointer"], "/kafka_cluster");
        assert_eq!(read(&app, &a.user, &format!("{APPLIED}/{KEYS}")).await.body["applied_limit"], 50);
        assert_eq!(read(&app, &b.user, &format!("{APPLIED}/{KEYS}")).await.body["applied_limit"], 100);
    }
}

on_both_backends! {
    async fn keys_made_before_the_limit_existed_are_counted_when_it_is_made(app) {
        // The bootstrap key of the system tenant was stored without taking a unit.
        let system = format!("Bearer {}", app.system);
        let before = read(&app, &system, &format!("{APPLIED}/{KEYS}")).await;
        assert_eq!(before.body["usage"], 1, "the live count, with no limit yet");
        let whoami = body(app.get("/v1/whoami", &app.system).await).await;
        let tenant = whoami["tenant_id"].as_str().expect("tenant id").to_owned();
        app.create_key(&tenant, &json!({"roles": ["user"]})).await;
        let after = read(&app, &system, &format!("{APPLIED}/{KEYS}")).await;
        assert_eq!(after.body["usage"], 2, "the bootstrap key and the new one: {}", after.body);
        let (_, limits) = crate::confluent::native(&app, &system, &format!("/v1/limits/service-quota.{KEYS}")).await;
        assert_eq!(limits["owner"], format!("service-quota:{KEYS}"));
    }
}

on_both_backends! {
    async fn a_new_default_moves_every_applied_limit_that_was_never_adjusted(app) {
        let (a, b) = (org(&app).await, org(&app).await);
        let system = format!("Bearer {}", app.system);
        let path = "/v1/service-quota-codes/svc.max_widgets.per_org";
        let define = |limit: i64| json!({"scope": "ORGANIZATION", "display_name": "Widgets", "default_limit": limit});
        assert_eq!(put(&app, &system, path, &define(25)).await.0, 201);
        for org in [&a, &b] {
            let reported = app.client.post(format!("{}/v1/usage/report", app.base)).header("Authorization", &org.admin)
                .json(&json!({"subject": {}, "metric": "svc.max_widgets.per_org", "value": 3})).send().await.expect("report");
            assert_eq!(reported.status(), 200);
        }
        // Raising above the default is the operator's.
        let adjust = json!({"organization": b.tenant, "scope": "ORGANIZATION", "applied_limit": 40});
        assert_eq!(put(&app, &system, "/v1/applied-quotas/svc.max_widgets.per_org", &adjust).await.0, 200);
        assert_eq!(put(&app, &system, path, &define(30)).await.0, 200);
        let widgets = format!("{APPLIED}/svc.max_widgets.per_org");
        let (mine, theirs) = (read(&app, &a.user, &widgets).await, read(&app, &b.user, &widgets).await);
        assert_eq!((mine.body["default_limit"].clone(), mine.body["applied_limit"].clone()), (json!(30), json!(30)));
        assert_eq!((theirs.body["default_limit"].clone(), theirs.body["applied_limit"].clone()), (json!(30), json!(40)));
        assert_eq!(mine.body["usage"], 3);
        let moved = json!({"scope": "KAFKA_CLUSTER", "display_name": "Widgets", "default_limit": 30});
        assert_eq!(put(&app, &system, path, &moved).await.0, 409, "a code's scope cannot change");
        let (bad, problem) = put(&app, &system, "/v1/service-quota-codes/Not%20A%20Code", &define(1)).await;
        assert_eq!((bad, problem["errors"][0]["parameter"].clone()), (400, json!("code")));
        let (status, catalogue) = crate::confluent::native(&app, &a.user, "/v1/service-quota-codes").await;
        assert_eq!(status, 200);
        let listed: Vec<&str> = catalogue.as_array().expect("codes").iter().filter_map(|c| c["code"].as_str()).collect();
        assert_eq!(listed, vec![DATAROBOT, KEYS, ENVIRONMENTS, "iam.max_kafka_clusters.per_org", KAFKA,
            "kafka.max_kafka_clusters.per_env", "sd.max_pipelines.per_organization", "svc.max_widgets.per_org"]);
    }
}

/// Each scope with references: its name, the references as a query, and the body field that
/// names the referenced resource.
type ScopeCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const SCOPES: [ScopeCase; 6] = [
    ("ENVIRONMENT", &[("environment", "env-1")], "environment"),
    (
        "NETWORK",
        &[("environment", "env-1"), ("network", "n-1")],
        "network",
    ),
    (
        "IDENTITY_PROVIDER",
        &[("identity_provider", "op-1")],
        "identity_provider",
    ),
    (
        "CERTIFICATE_AUTHORITY",
        &[("certificate_authority", "op-2")],
        "certificate_authority",
    ),
    ("SERVICE_ACCOUNT", &[("service_account", "sa-1")], "user"),
    ("USER_ACCOUNT", &[("user", "u-1")], "user"),
];

on_both_backends! {
    async fn every_scope_is_read_listed_and_adjusted_with_its_own_references(app) {
        let org = org(&app).await;
        let system = format!("Bearer {}", app.system);
        for (scope, references, field) in SCOPES {
            let code = format!("svc.max_things.per_{}", scope.to_lowercase());
            let define = json!({"scope": scope, "display_name": format!("Things per {scope}"), "default_limit": 5});
            assert_eq!(put(&app, &system, &format!("/v1/service-quota-codes/{code}"), &define).await.0, 201);
            let missing = read(&app, &org.user, &format!("{APPLIED}/{code}")).await;
            assert_eq!(missing.status, 400, "{scope}");
            assert_eq!(missing.error()["source"]["parameter"], references[0].0, "{scope}");
            let query: Vec<String> = references.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = query.join("&");
            let one = read(&app, &org.user, &format!("{APPLIED}/{code}?{query}")).await;
            assert_eq!(one.status, 200, "{scope}: {}", one.body);
            assert_eq!((one.body["scope"].clone(), one.body["applied_limit"].clone()), (json!(scope), json!(5)));
            assert!(one.body.get("usage").is_none(), "{scope}: nothing reported");
            assert_eq!(one.body[field]["id"], references.last().expect("reference").1, "{scope}");
            let listed = read(&app, &org.user, &format!("{APPLIED}?scope={}&{query}&id={code}", scope.to_lowercase())).await;
            assert_eq!(codes(&listed.body), vec![code.clone()], "{scope}");
            let mut adjust = json!({"scope": scope, "applied_limit": 3});
            for (k, v) in references {
                adjust[*k] = json!(v);
            }
            let (status, answer) = put(&app, &org.admin, &format!("/v1/applied-quotas/{code}"), &adjust).await;
            assert_eq!((status, answer["applied_limit"].clone()), (200, json!(3)), "{scope}: {answer}");
            let all = read(&app, &org.user, &format!("{APPLIED}?scope={scope}")).await;
            assert_eq!(all.body["data"][0]["applied_limit"], 3, "{scope}: the adjusted reference is listed");
            let other = read(&app, &org.user, &format!("{APPLIED}?scope={scope}&{}=elsewhere&id={code}", references.last().expect("reference").0)).await;
            assert_eq!(other.body["data"].as_array().map(Vec::len), Some(usize::from(references.len() == 1)), "{scope}");
        }
        let network = read(&app, &org.user, &format!("{APPLIED}/svc.max_things.per_network?environment=env-1&network=n-1")).await;
        assert_eq!(network.body["network"]["environment"], "env-1");
        assert!(network.body["network"]["resource_name"].as_str().is_some_and(|r| r.ends_with("/environment=env-1/network=n-1")));
    }
}
