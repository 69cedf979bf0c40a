//! The README's "Who may do what" table, one test per row, each over every role column (admin,
//! staff, reporter, support, user): what each key may do to limits of each owner.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::confluent::{create, org, quota as client_quota};
use crate::on_both_backends;
use crate::support::{TestApp, body};
use crate::zitadel::{REQUESTS, quota as zitadel_quota};

const REPORT: &str = "/v1/usage/report";
const CONSUME: &str = "/v1/usage/consume";
const CHECK: &str = "/v1/usage/check";
const LEASES: &str = "/v1/leases";

/// quotaplane's own resource counts: only quotaplane moves them.
const OWN_COUNTS: [&str; 3] = [
    "kafka.max_client_quotas.per_cluster",
    "iam.max_api_keys.per_org",
    "datarobot.max_quotas.per_org",
];

/// One key per role column, each acting as its own user.
struct Roles {
    tenant: String,
    /// (role, secret, user id), in the table's column order.
    keys: Vec<(&'static str, String, Uuid)>,
    /// The admin's secret (the first key).
    admin: String,
}

async fn roles_in(app: &TestApp, tenant: String) -> Roles {
    let mut keys = Vec::new();
    for role in ["admin", "staff", "reporter", "support", "user"] {
        let user = Uuid::new_v4();
        keys.push((role, app.key_for(&tenant, &[role], Some(user)).await, user));
    }
    let admin = keys[0].1.clone();
    Roles {
        tenant,
        keys,
        admin,
    }
}

async fn roles(app: &TestApp) -> Roles {
    let tenant = app.create_tenant("table").await;
    roles_in(app, tenant).await
}

/// `path` with `request` (a lease also gets a TTL); the status.
async fn usage(app: &TestApp, key: &str, path: &str, request: &Value) -> u16 {
    let mut request = request.clone();
    if path == LEASES {
        request["ttl_seconds"] = json!(60);
    }
    app.post(path, key, &request).await.status().as_u16()
}

fn tokens(user: Uuid) -> Value {
    json!({"subject": {"user": user.to_string()}, "metric": "chat_tokens", "amount": 1})
}

fn native(metric: &str) -> Value {
    json!({"subject": {}, "metric": metric, "amount": 1000, "window": {"kind": "day"}})
}

/// The ids of the limits `key` lists.
async fn listed(app: &TestApp, key: &str) -> Vec<String> {
    let list = body(app.get("/v1/limits?limit=1000", key).await).await;
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

on_both_backends! {
    async fn every_role_checks_consumes_and_leases_against_native_confluent_datarobot_and_zitadel_limits(app) {
        let org = org(&app).await;
        let r = roles_in(&app, org.tenant.clone()).await;
        assert_eq!(app.put("/v1/limits/n", &r.admin, &native("n")).await.status(), 201);
        create(&app, &org, &client_quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let dr = json!({"resourceType": "deployment", "resourceId": "d1",
            "defaultRules": [{"rule": "requests", "limit": 1000, "window": "min"}]});
        assert_eq!(app.post("/api/v2/quotas/", &r.admin, &dr).await.status(), 201);
        let zq = zitadel_quota(REQUESTS, 100_000, true);
        assert_eq!(app.add_quota(&app.system, &r.tenant, &zq).await.status(), 200);

        let all = body(app.get("/v1/limits?limit=1000", &r.admin).await).await;
        let mut owners = Vec::new();
        for limit in all.as_array().into_iter().flatten() {
            let owner = limit["owner"].as_str().unwrap_or("native");
            let kind = owner.split(':').next().unwrap_or(owner);
            if !["native", "confluent", "datarobot", "zitadel"].contains(&kind) {
                continue;
            }
            owners.push(kind.to_owned());
            let request = json!({"subject": limit["subject"], "metric": limit["metric"], "amount": 1});
            for (role, key, _) in &r.keys {
                for path in [CHECK, CONSUME, LEASES] {
                    let status = usage(&app, key, path, &request).await;
                    assert!([200, 201].contains(&status), "{role} {path} on {}: {status}", limit["id"]);
                }
            }
        }
        owners.sort();
        owners.dedup();
        assert_eq!(owners, ["confluent", "datarobot", "native", "zitadel"], "every owner was tried");
    }

    async fn on_chat_tokens_admins_and_staff_count_for_any_user_and_the_others_only_for_their_own(app) {
        let r = roles(&app).await;
        let someone = r.keys[4].2;
        for (role, key, own) in &r.keys {
            for path in [CHECK, CONSUME, LEASES] {
                let status = usage(&app, key, path, &tokens(*own)).await;
                assert!([200, 201].contains(&status), "{role} {path} for its own user: {status}");
                let anyone = usage(&app, key, path, &tokens(someone)).await;
                let for_anyone = ["admin", "staff", "user"].contains(role);
                if for_anyone {
                    // The user is `someone` itself; admins and staff act for every user.
                    assert!([200, 201].contains(&anyone), "{role} {path} for another user: {anyone}");
                } else {
                    assert_eq!(anyone, 403, "{role} {path} for another user");
                }
            }
        }
    }

    async fn every_role_may_check_quotaplanes_own_resource_counts_and_none_may_move_them(app) {
        let r = roles(&app).await;
        for metric in OWN_COUNTS {
            let request = json!({"subject": {}, "metric": metric, "amount": 1});
            for (role, key, _) in &r.keys {
                assert_eq!(usage(&app, key, CHECK, &request).await, 200, "{role} checks {metric}");
                for path in [CONSUME, LEASES] {
                    assert_eq!(usage(&app, key, path, &request).await, 403, "{role} {path} {metric}");
                }
            }
        }
    }

    async fn admins_and_reporters_report_native_service_quota_datarobot_and_waldur_levels_and_no_one_else(app) {
        let r = roles(&app).await;
        assert_eq!(app.put("/v1/limits/disk", &r.admin, &native("disk")).await.status(), 201);
        let dr = json!({"resourceType": "deployment", "resourceId": "d1",
            "defaultRules": [{"rule": "requests", "limit": 1000, "window": "min"}]});
        assert_eq!(app.post("/api/v2/quotas/", &r.admin, &dr).await.status(), 201);
        let all = body(app.get("/v1/limits?limit=1000", &r.admin).await).await;
        let datarobot = all.as_array().into_iter().flatten()
            .find(|l| l["owner"].as_str().is_some_and(|o| o.starts_with("datarobot")))
            .cloned().expect("the DataRobot quota's limit");
        for (role, key, own) in &r.keys {
            let allowed = ["admin", "reporter"].contains(role);
            let levels = [
                json!({"subject": {}, "metric": "disk", "value": 3}),
                json!({"subject": {}, "metric": "iam.max_environments.per_org", "value": 1}),
                json!({"subject": datarobot["subject"], "metric": datarobot["metric"], "value": 1}),
                json!({"subject": {"user": own.to_string()}, "metric": "chat_tokens", "value": 1}),
            ];
            for level in &levels {
                let status = app.post(REPORT, key, level).await.status().as_u16();
                assert_eq!(status, if allowed { 200 } else { 403 }, "{role} reports {level}");
            }
        }
    }

    async fn no_role_reports_what_quotaplane_counts_itself(app) {
        let r = roles(&app).await;
        let zq = zitadel_quota(REQUESTS, 100_000, true);
        assert_eq!(app.add_quota(&app.system, &r.tenant, &zq).await.status(), 200);
        let counted = ["requests.all.authenticated", "kafka_ingress_bytes", "kafka_egress_bytes"];
        for (role, key, _) in &r.keys {
            for metric in counted.iter().chain(OWN_COUNTS.iter()) {
                let level = json!({"subject": {}, "metric": metric, "value": 0});
                assert_eq!(app.post(REPORT, key, &level).await.status(), 403, "{role} reports {metric}");
            }
        }
    }

    async fn only_admins_write_native_limits_and_no_one_writes_a_surfaces_through_v1_limits(app) {
        let r = roles(&app).await;
        let zq = zitadel_quota(REQUESTS, 100, true);
        assert_eq!(app.add_quota(&app.system, &r.tenant, &zq).await.status(), 200);
        let surface = "/v1/limits/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED";
        for (role, key, _) in &r.keys[1..] {
            assert_eq!(app.put("/v1/limits/mine", key, &native("m")).await.status(), 403, "{role} PUT");
            assert_eq!(app.put(surface, key, &native("m")).await.status(), 403, "{role} PUT surface");
            assert_eq!(app.delete(surface, key).await.status(), 403, "{role} DELETE surface");
        }
        assert_eq!(app.put("/v1/limits/mine", &r.admin, &native("m")).await.status(), 201);
        for (role, key, _) in &r.keys[1..] {
            assert_eq!(app.delete("/v1/limits/mine", key).await.status(), 403, "{role} DELETE");
        }
        assert_eq!(app.delete("/v1/limits/mine", &r.admin).await.status(), 204);
        assert_eq!(app.put(surface, &r.admin, &native("m")).await.status(), 400, "a surface's id");
        assert_eq!(app.delete(surface, &r.admin).await.status(), 409, "a surface's limit");
        let kept = body(app.get(surface, &r.admin).await).await;
        assert_eq!(kept["amount"], 100, "the surface's limit is as it was: {kept}");
    }

    async fn admins_list_every_limit_and_the_others_native_ones_and_their_own(app) {
        let r = roles(&app).await;
        assert_eq!(app.put("/v1/limits/shared", &r.admin, &native("m")).await.status(), 201);
        let zq = zitadel_quota(REQUESTS, 100_000, true);
        assert_eq!(app.add_quota(&app.system, &r.tenant, &zq).await.status(), 200);
        let owners: Vec<Uuid> = r.keys.iter().map(|(_, _, user)| *user).collect();
        let staff = r.keys.iter().find(|(role, _, _)| *role == "staff").map(|(_, key, _)| key);
        for user in &owners {
            let quota = json!({"user_uuid": user, "daily_limit": 5});
            app.set_quota_ok(staff.expect("a staff key"), quota).await;
            assert_eq!(usage(&app, &r.admin, CONSUME, &tokens(*user)).await, 200);
        }
        let everything = listed(&app, &r.admin).await;
        assert!(everything.contains(&"zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED".to_owned()));
        assert!(owners.iter().all(|u| everything.iter().any(|id| id.contains(&u.to_string()))));
        for (role, key, own) in &r.keys[1..] {
            let seen = listed(&app, key).await;
            assert!(seen.contains(&"shared".to_owned()), "{role} sees native limits");
            assert!(seen.iter().any(|id| id.contains(&own.to_string())), "{role} sees its own");
            let others = owners.iter().filter(|u| *u != own);
            for other in others {
                assert!(!seen.iter().any(|id| id.contains(&other.to_string())), "{role}: {seen:?}");
            }
            assert!(!seen.iter().any(|id| id.starts_with("zitadel:")), "{role}: {seen:?}");
            let theirs = format!("/v1/limits/waldur-chat-daily-{}", owners[0]);
            assert_eq!(app.get(&theirs, key).await.status(), 404, "{role}");
        }
    }
}
