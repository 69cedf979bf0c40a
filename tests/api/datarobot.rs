//! The DataRobot surface: quotas and templates as DataRobot's clients use them, and enforcement
//! of consumers' calls through the usage engine.

use chrono::TimeDelta;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, body};

const QUOTAS: &str = "/api/v2/quotas/";

fn quota(resource_id: &str, default_rules: Value) -> Value {
    json!({"resourceType": "deployment", "resourceId": resource_id, "defaultRules": default_rules})
}

impl TestApp {
    async fn create_quota(&self, key: &str, body: &Value) -> Value {
        let response = self.post(QUOTAS, key, body).await;
        assert_eq!(response.status(), 201, "create quota");
        crate::support::body(response).await
    }

    async fn patch(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.request(Method::PATCH, path, key)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    async fn call(&self, key: &str, deployment: &str, call: Value) -> reqwest::Response {
        self.post(
            &format!("/v1/datarobot/deployments/{deployment}/calls"),
            key,
            &call,
        )
        .await
    }

    async fn call_status(&self, key: &str, deployment: &str, consumer: &str) -> u16 {
        self.call(
            key,
            deployment,
            json!({"consumer_type": "user", "consumer_id": consumer}),
        )
        .await
        .status()
        .as_u16()
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(TimeDelta::seconds(seconds));
    }
}

async fn assert_invalid(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Value,
    field: &str,
) {
    let response = app
        .request(method, path, key)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 422, "{field}: {body}");
    let answer = crate::support::body(response).await;
    assert!(answer["message"].is_string(), "{answer}");
    assert!(
        answer["errors"][field].is_string(),
        "expected an error on {field}: {answer}"
    );
}

on_both_backends! {
    async fn the_terraform_flow_creates_finds_updates_and_deletes_a_quota(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let created = app.create_quota(&admin, &quota("dep-1", json!([{"rule": "requests", "limit": 10}]))).await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(id.len(), 24);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(created["resourceType"], "deployment");
        assert_eq!(created["resourceId"], "dep-1");
        assert_eq!(created["defaultRules"], json!([{"rule": "requests", "limit": 10, "window": "min"}]));
        assert_eq!(created["policies"], json!([]));
        assert!(created["userId"].as_str().is_some_and(|u| !u.is_empty()));

        let found = body(app.get("/api/v2/quotas/?resourceType=deployment&resourceId=dep-1", &admin).await).await;
        assert_eq!(found["totalCount"], 1);
        assert_eq!(found["data"][0]["id"], id.as_str());
        let none = body(app.get("/api/v2/quotas/?resourceType=deployment&resourceId=dep-2", &admin).await).await;
        assert_eq!(none["data"], json!([]));

        let one = app.get(&format!("{QUOTAS}{id}/"), &admin).await;
        assert_eq!(one.status(), 200);
        assert_eq!(body(one).await, created);

        let patched = app.patch(&format!("{QUOTAS}{id}/"), &admin, &json!({"defaultRules": [{"rule": "token", "limit": 5, "window": "hour"}]})).await;
        assert_eq!(patched.status(), 200);
        let patched = body(patched).await;
        assert_eq!(patched["defaultRules"], json!([{"rule": "token", "limit": 5, "window": "hour"}]));
        assert_eq!(patched["resourceId"], "dep-1");

        let patched = body(app.patch(&format!("{QUOTAS}{id}/"), &admin, &json!({
            "policies": [{"consumerId": "alice", "consumerType": "user", "rules": [], "reserved": 0.5}],
            "capacity": {"capacity": 100, "units": "token"}, "saturationThreshold": 0.8,
        })).await).await;
        assert_eq!(patched["defaultRules"][0]["rule"], "token", "absent fields are kept");
        assert_eq!(patched["policies"][0]["consumerName"], Value::Null);
        assert_eq!(patched["capacity"], json!({"capacity": 100, "units": "token"}));
        assert_eq!(patched["saturationThreshold"], 0.8);
        let cleared = body(app.patch(&format!("{QUOTAS}{id}/"), &admin, &json!({"saturationThreshold": null})).await).await;
        assert_eq!(cleared["saturationThreshold"], Value::Null);

        let deleted = app.delete(&format!("{QUOTAS}{id}/"), &admin).await;
        assert_eq!(deleted.status(), 204);
        let gone = app.get(&format!("{QUOTAS}{id}/"), &admin).await;
        assert_eq!(gone.status(), 404);
        assert!(body(gone).await["message"].is_string());
        assert_eq!(app.delete(&format!("{QUOTAS}{id}/"), &admin).await.status(), 404);
    }

    async fn paths_answer_the_same_without_their_trailing_slash(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let created = app.post("/api/v2/quotas", &admin, &quota("d", json!([]))).await;
        assert_eq!(created.status(), 201);
        let id = body(created).await["id"].as_str().expect("id").to_owned();
        assert_eq!(app.get(&format!("/api/v2/quotas/{id}"), &admin).await.status(), 200);
        assert_eq!(body(app.get("/api/v2/quotas", &admin).await).await["totalCount"], 1);
        assert_eq!(app.get("/api/v2/quotaTemplates", &admin).await.status(), 200);
        assert_eq!(app.patch(&format!("/api/v2/quotas/{id}"), &admin, &json!({})).await.status(), 200);
        assert_eq!(app.delete(&format!("/api/v2/quotas/{id}"), &admin).await.status(), 204);
    }

    async fn every_validation_rule_is_a_422_naming_the_field(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let rule = json!({"rule": "requests", "limit": 1});
        let policy = |rules: Value| json!({"consumerId": "c", "consumerType": "user", "rules": rules});
        let with = |field: &str, value: Value| {
            let mut body = quota("d", json!([rule.clone()]));
            body[field] = value;
            body
        };
        let cases = [
            (with("resourceType", json!("model")), "resourceType"),
            (json!({"resourceType": "deployment", "defaultRules": []}), "resourceId"),
            (json!({"resourceType": "deployment", "resourceId": "d"}), "defaultRules"),
            (with("defaultRules", json!([{"rule": "bytes", "limit": 1}])), "defaultRules.0.rule"),
            (with("defaultRules", json!([{"limit": 1}])), "defaultRules.0.rule"),
            (with("defaultRules", json!([{"rule": "token"}])), "defaultRules.0.limit"),
            (with("defaultRules", json!([{"rule": "token", "limit": -1}])), "defaultRules.0.limit"),
            (with("defaultRules", json!([{"rule": "token", "limit": 1.5}])), "defaultRules.0.limit"),
            (with("defaultRules", json!([{"rule": "token", "limit": 1, "window": "week"}])), "defaultRules.0.window"),
            (with("defaultRules", json!(vec![rule.clone(); 101])), "defaultRules"),
            (with("policies", json!([{"consumerId": "c", "consumerType": "team", "rules": []}])), "policies.0.consumerType"),
            (with("policies", json!([{"consumerType": "user", "rules": []}])), "policies.0.consumerId"),
            (with("policies", json!([{"consumerId": "c", "consumerType": "user"}])), "policies.0.rules"),
            (with("policies", json!([policy(json!(vec![rule.clone(); 101]))])), "policies.0.rules"),
            (with("policies", json!([{"consumerId": "c", "consumerType": "user", "rules": [], "reserved": 1.5}])), "policies.0.reserved"),
            (with("policies", json!([policy(json!([])), policy(json!([]))])), "policies.1.consumerId"),
            (with("policies", json!((0..10_001).map(|i| json!({"consumerId": i.to_string(), "consumerType": "user", "rules": []})).collect::<Vec<_>>())), "policies"),
            (with("capacity", json!({"capacity": -1, "units": "token"})), "capacity.capacity"),
            (with("capacity", json!({"capacity": 1, "units": "bytes"})), "capacity.units"),
            (with("saturationThreshold", json!(-0.1)), "saturationThreshold"),
            (with("saturationThreshold", json!(1.01)), "saturationThreshold"),
        ];
        for (body, field) in cases {
            assert_invalid(&app, &admin, Method::POST, QUOTAS, body, field).await;
        }
        let created = app.create_quota(&admin, &quota("d", json!([]))).await;
        let path = format!("{QUOTAS}{}/", created["id"].as_str().expect("id"));
        assert_invalid(&app, &admin, Method::PATCH, &path, json!({"defaultRules": null}), "defaultRules").await;
        assert_invalid(&app, &admin, Method::PATCH, &path, json!({"policies": [{"consumerId": "c", "consumerType": "user", "rules": [{"rule": "token", "limit": -5}]}]}), "policies.0.rules.0.limit").await;
        assert_invalid(&app, &admin, Method::PATCH, &path, json!({"saturationThreshold": 2}), "saturationThreshold").await;
        let listed = app.get("/api/v2/quotas/?limit=-1", &admin).await;
        assert_eq!(listed.status(), 422);
        assert!(body(listed).await["errors"]["limit"].is_string());
        assert_eq!(app.get("/api/v2/quotas/?offset=x", &admin).await.status(), 422);
    }

    async fn malformed_json_is_a_400_with_a_message(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let response = app.request(Method::POST, QUOTAS, &admin)
            .header("content-type", "application/json").body("{nope").send().await.expect("send");
        assert_eq!(response.status(), 400);
        let answer = body(response).await;
        assert!(answer["message"].is_string());
        assert!(answer.get("errors").is_none());
    }

    async fn a_second_quota_for_a_resource_is_a_409_naming_the_first(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let first = app.create_quota(&admin, &quota("dep", json!([]))).await;
        let again = app.post(QUOTAS, &admin, &quota("dep", json!([{"rule": "token", "limit": 1}]))).await;
        assert_eq!(again.status(), 409);
        let message = body(again).await["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(first["id"].as_str().expect("id")), "{message}");
        let (_, elsewhere) = app.tenant_with_admin().await;
        assert_eq!(app.post(QUOTAS, &elsewhere, &quota("dep", json!([]))).await.status(), 201, "one per resource per tenant");
    }

    async fn another_tenants_quota_is_not_found_and_errors_keep_datarobots_shape(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let created = app.create_quota(&admin, &quota("d", json!([]))).await;
        let path = format!("{QUOTAS}{}/", created["id"].as_str().expect("id"));
        let (_, stranger) = app.tenant_with_admin().await;
        for response in [
            app.get(&path, &stranger).await,
            app.patch(&path, &stranger, &json!({})).await,
            app.delete(&path, &stranger).await,
            app.get(&format!("{QUOTAS}000000000000000000000000/"), &admin).await,
            app.get("/api/v2/quotaTemplates/nope/", &admin).await,
            app.get("/api/v2/nothing-here/", &admin).await,
        ] {
            assert_eq!(response.status(), 404);
            assert!(body(response).await["message"].is_string());
        }
        assert_eq!(body(app.get(QUOTAS, &stranger).await).await["totalCount"], 0);

        let anonymous = app.client.get(format!("{}{QUOTAS}", app.base)).send().await.expect("GET");
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        assert!(body(anonymous).await["message"].is_string());

        let user = app.key_for(&tenant, &["user"], None).await;
        assert_eq!(app.get(&path, &user).await.status(), 200, "any key reads");
        let refused = app.post(QUOTAS, &user, &quota("e", json!([]))).await;
        assert_eq!(refused.status(), 403);
        assert!(body(refused).await["message"].is_string());
        assert_eq!(app.delete(&path, &user).await.status(), 403);

        let wrong_method = app.put(QUOTAS, &admin, &json!({})).await;
        assert_eq!(wrong_method.status(), 405);
        assert!(body(wrong_method).await["message"].is_string());

        // Several MiB: the server reads what it refuses before answering (see oversized.rs).
        let huge = json!({"resourceType": "deployment", "resourceId": "x".repeat(4 * 1024 * 1024)});
        let too_large = app.post(QUOTAS, &admin, &huge).await;
        assert_eq!(too_large.status(), 413);
        assert!(body(too_large).await["message"].is_string());
    }

    async fn pages_link_to_the_next_and_previous_with_absolute_urls(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.create_quota(&admin, &quota(&format!("d{i}"), json!([]))).await["id"].clone());
            app.advance(1);
        }
        let first = body(app.get("/api/v2/quotas/?limit=2&resourceType=deployment", &admin).await).await;
        assert_eq!(first["count"], 2);
        assert_eq!(first["totalCount"], 5);
        assert_eq!(first["previous"], Value::Null);
        assert_eq!(first["data"][0]["id"], ids[0]);
        let next = first["next"].as_str().expect("next").to_owned();
        assert!(next.starts_with(&app.base), "{next}");
        assert!(next.contains("resourceType=deployment") && next.contains("offset=2"), "{next}");
        let second: Value = app.client.get(&next).bearer_auth(&admin).send().await.expect("next").json().await.expect("json");
        assert_eq!(second["data"][0]["id"], ids[2]);
        let previous = second["previous"].as_str().expect("previous").to_owned();
        let back: Value = app.client.get(&previous).bearer_auth(&admin).send().await.expect("prev").json().await.expect("json");
        assert_eq!(back["data"], first["data"]);
        let last = body(app.get("/api/v2/quotas/?offset=4&limit=2", &admin).await).await;
        assert_eq!(last["count"], 1);
        assert_eq!(last["next"], Value::Null);
        assert!(last["previous"].as_str().is_some_and(|p| p.contains("offset=2")));
        let default = body(app.get(QUOTAS, &admin).await).await;
        assert_eq!(default["count"], 5, "the default page holds 100");
        let clamped = body(app.get("/api/v2/quotas/?limit=100000", &admin).await).await;
        assert_eq!(clamped["count"], 5);
        assert!(clamped["next"].is_null());
    }

    async fn templates_are_written_natively_read_as_datarobot_and_seed_quotas(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let rules = json!([{"rule": "requests", "limit": 7, "window": "hour"}, {"rule": "token", "limit": 1000}]);
        let shared = app.post("/v1/quota-templates", &app.system, &json!({"name": "gold", "rules": rules})).await;
        assert_eq!(shared.status(), 201);
        let shared = body(shared).await;
        let own = app.post("/v1/quota-templates", &admin, &json!({"name": "mine", "rules": []})).await;
        assert_eq!(own.status(), 201);
        let own = body(own).await;
        let user = app.key_for(&tenant, &["user"], None).await;
        assert_eq!(app.post("/v1/quota-templates", &user, &json!({"name": "x", "rules": []})).await.status(), 403);
        assert_eq!(app.post("/v1/quota-templates", &admin, &json!({"name": "", "rules": []})).await.status(), 422);
        assert_eq!(app.post("/v1/quota-templates", &admin, &json!({"name": "x", "rules": [{"rule": "x", "limit": 1}]})).await.status(), 422);

        let listed = body(app.get("/api/v2/quotaTemplates/?offset=0&limit=1", &user).await).await;
        assert_eq!(listed["totalCount"], 2);
        assert_eq!(listed["count"], 1);
        assert!(listed["next"].as_str().is_some_and(|n| n.contains("offset=1")));
        let one = body(app.get(&format!("/api/v2/quotaTemplates/{}/", shared["id"].as_str().expect("id")), &user).await).await;
        assert_eq!(one, json!({"id": shared["id"], "name": "gold", "rules": [
            {"rule": "requests", "limit": 7, "window": "hour"}, {"rule": "token", "limit": 1000, "window": "min"}]}));
        let (_, stranger) = app.tenant_with_admin().await;
        let theirs = body(app.get("/api/v2/quotaTemplates/", &stranger).await).await;
        assert_eq!(theirs["totalCount"], 1, "the system's templates are everyone's, a tenant's its own");
        let own_path = format!("/v1/quota-templates/{}", own["id"].as_str().expect("id"));
        assert_eq!(app.delete(&own_path, &stranger).await.status(), 404);

        let made = app.create_quota(&admin, &json!({"resourceType": "deployment", "resourceId": "d", "templateId": shared["id"]})).await;
        assert_eq!(made["defaultRules"], one["rules"]);
        assert_invalid(&app, &admin, Method::POST, QUOTAS, json!({"resourceType": "deployment", "resourceId": "e", "templateId": "nope"}), "templateId").await;
        assert_invalid(&app, &admin, Method::POST, QUOTAS, json!({"resourceType": "deployment", "resourceId": "e", "templateId": shared["id"], "defaultRules": []}), "templateId").await;

        let replaced = app.put(&own_path, &admin, &json!({"name": "renamed", "rules": [{"rule": "concurrentRequests", "limit": 2}]})).await;
        assert_eq!(replaced.status(), 200);
        assert_eq!(body(replaced).await["name"], "renamed");
        assert_eq!(app.delete(&own_path, &admin).await.status(), 204);
        assert_eq!(app.get(&format!("/api/v2/quotaTemplates/{}/", own["id"].as_str().expect("id")), &admin).await.status(), 404);
        assert_eq!(app.put(&own_path, &admin, &json!({"name": "x", "rules": []})).await.status(), 404);
    }

    async fn a_consumer_with_a_policy_gets_its_rules_and_every_other_consumer_the_defaults_each(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &json!({"resourceType": "deployment", "resourceId": "dep",
            "defaultRules": [{"rule": "requests", "limit": 2}],
            "policies": [{"consumerId": "alice", "consumerType": "user", "rules": [{"rule": "requests", "limit": 4}]}]})).await;
        for consumer in ["bob", "carol"] {
            assert_eq!(app.call_status(&admin, "dep", consumer).await, 200);
            assert_eq!(app.call_status(&admin, "dep", consumer).await, 200);
        }
        let refused = app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "bob"})).await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        let refused = body(refused).await;
        assert_eq!(refused["policy"], "default");
        assert_eq!(refused["refused_by"], "requests");
        for _ in 0..4 {
            assert_eq!(app.call_status(&admin, "dep", "alice").await, 200, "the policy, not the defaults");
        }
        let alice = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "alice"})).await).await;
        assert_eq!(alice["allowed"], false);
        assert_eq!(alice["policy"], "own");
        let same_id_other_type = app.call(&admin, "dep", json!({"consumer_type": "usergroup", "consumer_id": "alice"})).await;
        assert_eq!(same_id_other_type.status(), 200, "a policy names a type and an id");
        assert_eq!(app.call_status(&admin, "other-deployment", "bob").await, 200, "no quota, no limit");
        app.advance(60);
        assert_eq!(app.call_status(&admin, "dep", "bob").await, 200, "a new minute");
    }

    async fn requests_and_tokens_count_per_minute_hour_and_day(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &quota("dep", json!([
            {"rule": "requests", "limit": 3, "window": "hour"},
            {"rule": "token", "limit": 100, "window": "day"},
            {"rule": "token", "limit": 60, "window": "min"}]))).await;
        let call = |tokens: i64| json!({"consumer_type": "deployment", "consumer_id": "caller", "tokens": tokens});
        assert_eq!(app.call(&admin, "dep", call(50)).await.status(), 200);
        let per_minute = body(app.call(&admin, "dep", call(20)).await).await;
        assert_eq!(per_minute["refused_by"], "token", "60 a minute: {per_minute}");
        app.advance(60);
        assert_eq!(app.call(&admin, "dep", call(40)).await.status(), 200);
        app.advance(60);
        assert_eq!(app.call(&admin, "dep", call(1)).await.status(), 200, "the refused call counted nothing");
        let per_hour = body(app.call(&admin, "dep", call(1)).await).await;
        assert_eq!(per_hour["refused_by"], "requests", "3 an hour: {per_hour}");
        app.advance(3600);
        let per_day = body(app.call(&admin, "dep", call(20)).await).await;
        assert_eq!(per_day["refused_by"], "token", "100 a day: {per_day}");
        app.advance(24 * 3600);
        assert_eq!(app.call(&admin, "dep", call(20)).await.status(), 200);
    }

    async fn concurrent_requests_are_leases_given_back_on_release(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &quota("dep", json!([{"rule": "concurrentRequests", "limit": 2}]))).await;
        let first = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "u"})).await).await;
        let lease = first["lease"]["id"].as_str().expect("a lease").to_owned();
        assert_eq!(app.call_status(&admin, "dep", "u").await, 200);
        let third = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "u"})).await).await;
        assert_eq!(third["refused_by"], "concurrentRequests");
        assert_eq!(app.call_status(&admin, "dep", "v").await, 200, "each default consumer has its own");
        assert_eq!(app.delete(&format!("/v1/leases/{lease}"), &admin).await.status(), 204);
        assert_eq!(app.call_status(&admin, "dep", "u").await, 200);
        let expiring = app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "w", "lease_seconds": 5})).await;
        assert_eq!(expiring.status(), 200);
        assert_eq!(app.call_status(&admin, "dep", "w").await, 200);
        assert_eq!(app.call_status(&admin, "dep", "w").await, 429);
        app.advance(6);
        assert_eq!(app.call_status(&admin, "dep", "w").await, 200, "an expired lease gives its unit back");
    }

    async fn input_sequence_length_is_a_ceiling_on_one_call(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &quota("dep", json!([{"rule": "inputSequenceLength", "limit": 100}, {"rule": "concurrentRequests", "limit": 1}]))).await;
        let call = |length: i64| json!({"consumer_type": "user", "consumer_id": "u", "input_sequence_length": length});
        let long = app.call(&admin, "dep", call(101)).await;
        assert_eq!(long.status(), 429);
        let long = body(long).await;
        assert_eq!(long["refused_by"], "inputSequenceLength");
        assert_eq!(long["lease"], Value::Null);
        for _ in 0..2 {
            let fits = body(app.call(&admin, "dep", call(100)).await).await;
            assert_eq!(fits["allowed"], true, "a ceiling, not a budget: {fits}");
            let lease = fits["lease"]["id"].as_str().expect("lease").to_owned();
            app.delete(&format!("/v1/leases/{lease}"), &admin).await;
        }
        assert_eq!(app.call(&admin, "dep", json!({"consumer_type": "team", "consumer_id": "u"})).await.status(), 422);
        assert_eq!(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "u", "tokens": -1})).await.status(), 422);
    }

    async fn a_saturated_deployment_refuses_consumers_without_a_reservation_and_honours_reservations(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &json!({"resourceType": "deployment", "resourceId": "dep",
            "defaultRules": [{"rule": "requests", "limit": 100}],
            "policies": [{"consumerId": "vip", "consumerType": "user", "reserved": 0.3, "rules": [{"rule": "requests", "limit": 100}]}],
            "capacity": {"capacity": 10, "units": "requests"}, "saturationThreshold": 0.5})).await;
        for _ in 0..3 {
            assert_eq!(app.call_status(&admin, "dep", "bob").await, 200);
        }
        assert_eq!(app.call_status(&admin, "dep", "vip").await, 200, "a reserved consumer uses its own share");
        for _ in 0..2 {
            assert_eq!(app.call_status(&admin, "dep", "carol").await, 200, "5 = 0.5 * 10 shared");
        }
        let refused = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "dave"})).await).await;
        assert_eq!(refused["allowed"], false);
        assert_eq!(refused["saturated"], true);
        assert_eq!(refused["refused_by"], "saturation");
        for _ in 0..2 {
            let reserved = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "vip"})).await).await;
            assert_eq!(reserved["allowed"], true, "the reservation holds when the others saturate: {reserved}");
        }
        let spent = body(app.call(&admin, "dep", json!({"consumer_type": "user", "consumer_id": "vip"})).await).await;
        assert_eq!(spent["allowed"], false, "0.3 * 10 = 3 a minute: {spent}");
        assert_eq!(spent["saturated"], true);
        app.advance(60);
        assert_eq!(app.call_status(&admin, "dep", "dave").await, 200, "a new minute");
    }

    async fn the_shared_consume_enforces_a_datarobot_quota_as_the_call_endpoint_does(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &json!({"resourceType": "deployment", "resourceId": "dep",
            "defaultRules": [{"rule": "requests", "limit": 3}, {"rule": "token", "limit": 100}],
            "policies": [{"consumerId": "vip", "consumerType": "user", "rules": [{"rule": "requests", "limit": 5}]}]})).await;
        let consume = |consumer: &str, metric: &str, amount: i64| json!({
            "subject": {"deployment": "dep", "consumer_type": "user", "consumer_id": consumer},
            "metric": metric, "amount": amount});
        let admitted = |responses: Vec<u16>| responses.iter().filter(|s| **s == 200).count();
        // Through the shared API: vip has its policy's 5, a new user the default 3.
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(app.post("/v1/usage/consume", &admin, &consume("vip", "datarobot.requests", 1)).await.status().as_u16());
        }
        assert_eq!(admitted(statuses), 5, "vip: its policy");
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(app.post("/v1/usage/consume", &admin, &consume("new-user", "datarobot.requests", 1)).await.status().as_u16());
        }
        assert_eq!(admitted(statuses), 3, "a new user: the default rules, for itself");
        // The call endpoint sees the same counters: both are spent.
        assert_eq!(app.call_status(&admin, "dep", "vip").await, 429);
        assert_eq!(app.call_status(&admin, "dep", "new-user").await, 429);
        // Tokens: the default 100 for a consumer without a policy; none for vip's policy.
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("other", "datarobot.token", 101)).await.status(), 429);
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("vip", "datarobot.token", 1000)).await.status(), 200,
            "vip's policy has no token rule: it replaces the default one");
        // And the other way round: calls count against what consume then sees.
        for _ in 0..3 {
            let call = json!({"consumer_type": "user", "consumer_id": "caller", "tokens": 10});
            assert_eq!(app.call(&admin, "dep", call).await.status(), 200);
        }
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("caller", "datarobot.requests", 1)).await.status(), 429);
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("caller", "datarobot.token", 71)).await.status(), 429);
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("caller", "datarobot.token", 70)).await.status(), 200);
    }

    async fn a_call_refused_for_its_tokens_counts_nothing(app) {
        let (_, admin) = app.tenant_with_admin().await;
        app.create_quota(&admin, &quota("dep", json!([
            {"rule": "requests", "limit": 2}, {"rule": "token", "limit": 10},
            {"rule": "concurrentRequests", "limit": 1}]))).await;
        let call = |tokens: i64| json!({"consumer_type": "user", "consumer_id": "u", "tokens": tokens});
        let refused = body(app.call(&admin, "dep", call(11)).await).await;
        assert_eq!(refused["refused_by"], "token", "{refused}");
        assert_eq!(refused["lease"], Value::Null);
        let check = |metric: &str| json!({"subject": {"deployment": "dep", "consumer_type": "user", "consumer_id": "u"},
            "metric": metric, "amount": 0});
        for metric in ["datarobot.requests", "datarobot.concurrentRequests", "datarobot.token"] {
            let standing = body(app.post("/v1/usage/check", &admin, &check(metric)).await).await;
            assert_eq!(standing["limits"][0]["used"], 0, "{metric}: {standing}");
        }
        let admitted = body(app.call(&admin, "dep", call(10)).await).await;
        assert_eq!(admitted["allowed"], true, "{admitted}");
    }

    async fn a_quotas_limits_are_in_the_engine_and_follow_patch_and_delete(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let created = app.create_quota(&admin, &quota("dep", json!([{"rule": "requests", "limit": 1}]))).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let owned = |limits: &Value| limits.as_array().into_iter().flatten()
            .filter(|l| l["owner"] == format!("datarobot:{id}")).cloned().collect::<Vec<_>>();
        let limits = body(app.get("/v1/limits", &admin).await).await;
        let mine = owned(&limits);
        assert_eq!(mine.len(), 1, "{limits}");
        assert_eq!(mine[0]["metric"], "datarobot.requests");
        assert_eq!(mine[0]["per"], json!(["consumer_type", "consumer_id"]));
        let native_delete = app.delete(&format!("/v1/limits/{}", mine[0]["id"].as_str().expect("id")), &admin).await;
        assert_eq!(native_delete.status(), 409, "the quota owns its limits");
        assert_eq!(app.call_status(&admin, "dep", "u").await, 200);
        app.patch(&format!("{QUOTAS}{id}/"), &admin, &json!({"defaultRules": [{"rule": "requests", "limit": 1}, {"rule": "token", "limit": 5}]})).await;
        assert_eq!(owned(&body(app.get("/v1/limits", &admin).await).await).len(), 2);
        assert_eq!(app.call_status(&admin, "dep", "u").await, 429, "usage survives a PATCH that keeps the rule");
        app.delete(&format!("{QUOTAS}{id}/"), &admin).await;
        assert!(owned(&body(app.get("/v1/limits", &admin).await).await).is_empty());
        assert_eq!(app.call_status(&admin, "dep", "u").await, 200);
    }

    async fn a_native_limit_split_per_subject_key_gives_each_value_the_whole_amount(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let put = app.put("/v1/limits/each-user", &admin, &json!({"subject": {"org": "o"}, "metric": "calls",
            "amount": 1, "window": {"kind": "none"}, "per": ["user"]})).await;
        assert_eq!(put.status(), 201);
        assert_eq!(body(put).await["per"], json!(["user"]));
        let consume = |user: &str| json!({"subject": {"org": "o", "user": user}, "metric": "calls", "amount": 1});
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("a")).await.status(), 200);
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("b")).await.status(), 200);
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume("a")).await.status(), 429);
        let bad = app.put("/v1/limits/x", &admin, &json!({"metric": "m", "amount": 1, "window": {"kind": "none"}, "per": [""]})).await;
        assert_eq!(bad.status(), 422);
    }
}

mod rate_limited {
    use super::*;
    use crate::support::Backend;
    use quotaplane::app::Settings;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rate_limited_datarobot_call_is_a_429_in_datarobots_shape() {
        let settings = Settings {
            rate_limit_requests: 2,
            ..Settings::default()
        };
        let app = TestApp::spawn_with(Backend::Sqlite, settings)
            .await
            .expect("sqlite");
        let (_, admin) = app.tenant_with_admin().await;
        let mut last = app.get(QUOTAS, &admin).await;
        for _ in 0..3 {
            last = app.get(QUOTAS, &admin).await;
        }
        assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(last.headers().contains_key("retry-after"));
        assert!(body(last).await["message"].is_string());
    }
}
