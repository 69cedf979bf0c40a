//! The ZITADEL system API's quotas over HTTP: add, set, remove, every error in ZITADEL's
//! envelope, and request metering with blocking.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, body, test_epoch};

pub const REQUESTS: &str = "UNIT_REQUESTS_ALL_AUTHENTICATED";
pub const REQUESTS_LIMIT: &str = "/v1/limits/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED";

/// A quota body on the test epoch with a one-hour period.
pub fn quota(unit: &str, amount: u64, limit: bool) -> Value {
    json!({"unit": unit, "from": test_epoch().to_rfc3339(), "resetInterval": "3600s",
        "amount": amount.to_string(), "limit": limit})
}

impl TestApp {
    pub fn quotas_path(instance: &str) -> String {
        format!("/system/v1/instances/{instance}/quotas")
    }

    pub async fn add_quota(&self, key: &str, instance: &str, quota: &Value) -> reqwest::Response {
        self.post(&Self::quotas_path(instance), key, quota).await
    }

    pub async fn set_instance_quota(
        &self,
        key: &str,
        instance: &str,
        quota: &Value,
    ) -> reqwest::Response {
        self.put(&Self::quotas_path(instance), key, quota).await
    }

    pub async fn remove_quota(&self, key: &str, instance: &str, unit: &str) -> reqwest::Response {
        let path = format!("{}/{unit}", Self::quotas_path(instance));
        self.delete(&path, key).await
    }

    /// Usage of the tenant's request quota, as its admin reads it (this read counts too).
    pub async fn requests_used(&self, admin: &str) -> i64 {
        let limit = body(self.get(REQUESTS_LIMIT, admin).await).await;
        limit["usage"]["used"].as_i64().unwrap_or(-1)
    }
}

/// Asserts a ZITADEL error: HTTP status, gRPC code, and the error id (or none).
pub async fn assert_status(
    response: reqwest::Response,
    status: u16,
    code: i64,
    id: Option<&str>,
) -> Value {
    assert_eq!(response.status(), status);
    let error = body(response).await;
    assert_eq!(error["code"], code, "{error}");
    match id {
        Some(id) => {
            assert_eq!(error["details"][0]["id"], id, "{error}");
            assert_eq!(
                error["details"][0]["@type"],
                "type.googleapis.com/zitadel.v1.ErrorDetail"
            );
            let text = error["details"][0]["message"].as_str().unwrap_or_default();
            assert_eq!(error["message"], format!("{text} ({id})"));
        }
        None => assert_eq!(error["details"], json!([]), "{error}"),
    }
    error
}

on_both_backends! {
    async fn adding_setting_and_removing_a_quota_answers_zitadels_details(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let mut body_of = quota(REQUESTS, 100, false);
        body_of["notifications"] = json!([{"percent": 80, "callUrl": "http://hooks.example/q"}]);

        let added = app.add_quota(&app.system, &tenant, &body_of).await;
        assert_eq!(added.status(), 200);
        let added = body(added).await;
        assert_eq!(added["details"]["sequence"], "1");
        assert_eq!(added["details"]["resourceOwner"], tenant.as_str());
        assert_eq!(added["details"]["creationDate"], "2026-03-11T10:15:00Z");
        assert!(added["details"].get("changeDate").is_none());

        let again = app.add_quota(&app.system, &tenant, &body_of).await;
        let error = assert_status(again, 409, 6, Some("COMMAND-WDfFf")).await;
        assert_eq!(error["message"], "Quota already exists for this unit (COMMAND-WDfFf)");

        let same = body(app.set_instance_quota(&app.system, &tenant, &body_of).await).await;
        assert_eq!(same["details"]["sequence"], "1", "an unchanged SetQuota writes nothing");
        body_of["amount"] = json!(200);
        let changed = body(app.set_instance_quota(&app.system, &tenant, &body_of).await).await;
        assert_eq!(changed["details"]["sequence"], "2");

        let limit = body(app.get(REQUESTS_LIMIT, &admin).await).await;
        assert_eq!(limit["amount"], 200);
        assert_eq!(limit["owner"], "zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED");
        assert_eq!(limit["window"], json!({"kind": "anchored", "from": "2026-03-11T10:15:00Z", "interval_seconds": 3600}));
        assert_eq!(app.delete(REQUESTS_LIMIT, &admin).await.status(), 409, "only its owner changes it");

        app.clock.advance(TimeDelta::seconds(5));
        let removed = app.remove_quota(&app.system, &tenant, REQUESTS).await;
        assert_eq!(removed.status(), 200);
        let removed = body(removed).await;
        assert_eq!(removed["details"]["sequence"], "3");
        assert_eq!(removed["details"]["changeDate"], "2026-03-11T10:15:05Z");
        assert!(removed["details"].get("creationDate").is_none());
        assert_eq!(app.get(REQUESTS_LIMIT, &admin).await.status(), 404);

        let gone = app.remove_quota(&app.system, &tenant, REQUESTS).await;
        let error = assert_status(gone, 404, 5, Some("COMMAND-WDfFf")).await;
        assert_eq!(error["message"], "Quota not found for this unit (COMMAND-WDfFf)");

        let created = app.set_instance_quota(&app.system, &tenant, &quota("UNIT_ACTIONS_ALL_RUN_SECONDS", 5, true)).await;
        assert_eq!(created.status(), 200, "SetQuota creates");
        assert_eq!(app.remove_quota(&app.system, &tenant, "2").await.status(), 200, "a unit by number");
    }

    async fn every_invalid_quota_is_refused_with_zitadels_code_and_id(app) {
        let tenant = app.create_tenant("instance").await;
        let cases: Vec<(&str, Value, u16, i64, Option<&str>)> = vec![
            ("reset under a minute", json!({"resetInterval": "59s"}), 400, 3, Some("QUOTA-R5otd")),
            ("go-style duration", json!({"resetInterval": "1h"}), 400, 3, None),
            ("fractional seconds", json!({"resetInterval": "60.5s"}), 400, 3, None),
            ("no reset interval", json!({"resetInterval": null}), 400, 3, None),
            ("no from", json!({"from": null}), 400, 3, None),
            ("bad from", json!({"from": "yesterday"}), 400, 3, None),
            ("unit unimplemented", json!({"unit": "UNIT_UNIMPLEMENTED"}), 400, 3, None),
            ("unit zero", json!({"unit": 0}), 400, 3, None),
            ("unit unknown", json!({"unit": "UNIT_BOGUS"}), 400, 3, None),
            ("amount zero on add", json!({"amount": 0}), 400, 3, None),
            ("amount not a number", json!({"amount": "many"}), 400, 3, None),
            ("percent zero", json!({"notifications": [{"percent": 0, "callUrl": "http://h.example/"}]}), 400, 3, None),
            ("relative call url", json!({"notifications": [{"percent": 5, "callUrl": "/hook"}]}), 400, 3, Some("QUOTA-HAYmN")),
            ("unparsable call url", json!({"notifications": [{"percent": 5, "callUrl": "http://a b/"}]}), 400, 3, Some("QUOTA-bZ0Fj")),
            ("empty call url", json!({"notifications": [{"percent": 5, "callUrl": ""}]}), 400, 3, None),
            ("long call url", json!({"notifications": [{"percent": 5, "callUrl": format!("http://h.example/{}", "x".repeat(190))}]}), 400, 3, None),
            ("duplicates", json!({"notifications": [{"percent": 5, "callUrl": "http://h.example/"}, {"percent": 5, "callUrl": "http://h.example/"}]}), 500, 13, Some("QUOTA-Pty2n")),
        ];
        for (what, change, status, code, id) in cases {
            let mut request = quota(REQUESTS, 10, true);
            for (k, v) in change.as_object().into_iter().flatten() {
                request[k] = v.clone();
            }
            let response = app.add_quota(&app.system, &tenant, &request).await;
            assert_eq!(response.status(), status, "{what}");
            let error = assert_status(response, status, code, id).await;
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
        }
        let malformed = app.request(reqwest::Method::POST, &TestApp::quotas_path(&tenant), &app.system)
            .header("content-type", "application/json").body("{nope").send().await.expect("POST");
        assert_status(malformed, 400, 3, None).await;

        let mut zero = quota(REQUESTS, 0, true);
        zero["amount"] = json!(0);
        assert_eq!(app.set_instance_quota(&app.system, &tenant, &zero).await.status(), 200, "SetQuota accepts 0");
        let mut by_number = quota(REQUESTS, 1, false);
        by_number["unit"] = json!(2);
        let interval = by_number.as_object_mut().and_then(|o| o.remove("resetInterval"));
        by_number["reset_interval"] = interval.unwrap_or_default();
        assert_eq!(app.add_quota(&app.system, &tenant, &by_number).await.status(), 200, "numbers and proto names");
    }

    async fn only_system_keys_may_call_and_unknown_instances_are_404(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let request = quota(REQUESTS, 10, true);
        let forbidden = app.add_quota(&admin, &tenant, &request).await;
        let error = assert_status(forbidden, 403, 7, Some("AUTH-5mWD2")).await;
        assert_eq!(error["message"], "No matching permissions found (AUTH-5mWD2)");
        assert_status(app.remove_quota(&admin, &tenant, REQUESTS).await, 403, 7, Some("AUTH-5mWD2")).await;

        let unknown = uuid::Uuid::new_v4().to_string();
        let missing = app.set_instance_quota(&app.system, &unknown, &request).await;
        let error = assert_status(missing, 404, 5, None).await;
        assert_eq!(error["message"], format!("unable to set instance using id {unknown}"));
        assert_status(app.add_quota(&app.system, "not-a-uuid", &request).await, 404, 5, None).await;
        assert_status(app.remove_quota(&app.system, &unknown, REQUESTS).await, 404, 5, None).await;

        let anonymous = app.client.post(format!("{}{}", app.base, TestApp::quotas_path(&tenant)))
            .json(&request).send().await.expect("POST");
        assert_status(anonymous, 401, 16, Some("AUTH-7fs1e")).await;
    }

    async fn metering_counts_a_tenants_requests_but_not_what_zitadel_skips(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 1000, false)).await;
        for _ in 0..3 {
            assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200);
        }
        assert_eq!(app.get("/v1/nowhere", &admin).await.status(), 404, "a 404 counts");
        assert_eq!(app.requests_used(&admin).await, 5, "the reading request counts itself");

        let zero = json!({"subject": {}, "metric": "m", "amount": 0, "window": {"kind": "none"}});
        assert_eq!(app.put("/v1/limits/zero", &admin, &zero).await.status(), 201);
        let refused = app.post("/v1/usage/consume", &admin, &json!({"subject": {}, "metric": "m", "amount": 1})).await;
        assert_eq!(refused.status(), 429, "a 429 is given back");
        assert_eq!(app.get("/v1/whoami", "wrong-secret").await.status(), 401);
        assert_eq!(app.get("/v1/tenants", &app.system).await.status(), 200, "system keys are not metered");
        app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 1000, false)).await;
        assert_eq!(app.requests_used(&admin).await, 7);

        let other = app.create_tenant("other").await;
        let other_admin = app.key_for(&other, &["admin"], None).await;
        app.get("/v1/whoami", &other_admin).await;
        assert_eq!(app.requests_used(&admin).await, 8, "other tenants count elsewhere");
    }

    async fn a_blocking_quota_admits_exactly_amount_requests_under_concurrency_until_the_period_resets(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 20, true)).await;
        let app = Arc::new(app);
        let mut clients = Vec::new();
        for _ in 0..32 {
            let (app, admin) = (app.clone(), admin.clone());
            clients.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..3 {
                    statuses.push(app.get("/v1/whoami", &admin).await);
                }
                statuses
            }));
        }
        let mut admitted = 0;
        let mut refused = Vec::new();
        for client in clients {
            for response in client.await.expect("client") {
                match response.status() {
                    StatusCode::OK => admitted += 1,
                    StatusCode::TOO_MANY_REQUESTS => refused.push(response),
                    other => panic!("unexpected {other}"),
                }
            }
        }
        assert_eq!(admitted, 20, "exactly the amount");
        assert_eq!(refused.len(), 76);
        let one = refused.pop().expect("a refusal");
        assert!(one.headers().contains_key("retry-after"));
        assert_eq!(one.headers()["content-type"], "application/problem+json", "the called surface's envelope");
        let problem = body(one).await;
        assert_eq!(problem["code"], "quota_exceeded");
        assert_eq!(problem["detail"], "The quota for authenticated requests is exhausted");

        assert_eq!(app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 20, true)).await.status(), 200,
            "the system API is never blocked");
        app.clock.advance(TimeDelta::hours(1));
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200, "a new period");
        assert_eq!(app.requests_used(&admin).await, 2);
    }

    async fn action_run_seconds_are_reported_through_the_usage_engine(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        app.add_quota(&app.system, &tenant, &quota("UNIT_ACTIONS_ALL_RUN_SECONDS", 10, true)).await;
        let seconds = |n: i64| json!({"subject": {}, "metric": "actions.all.runs.seconds", "amount": n});
        assert_eq!(app.post("/v1/usage/consume", &admin, &seconds(6)).await.status(), 200);
        assert_eq!(app.post("/v1/usage/consume", &admin, &seconds(5)).await.status(), 429);
        assert_eq!(app.post("/v1/usage/consume", &admin, &seconds(4)).await.status(), 200);
    }
}
