//! ZITADEL's system API as ZITADEL's own tools call it over REST: system API users' self-signed
//! JWTs, instance limits (block, auditLogRetention), instances, and grpc-gateway's details.

use std::sync::OnceLock;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use quotaplane::app::Settings;
use quotaplane::http::system_users::SystemApiUsers;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::on_both_backends_with;
use crate::support::{TempDir, TestApp, body};
use crate::zitadel::{REQUESTS, assert_status, quota};

/// The system API user the tests configure, and the audience its tokens name.
pub const USER: &str = "system-user-1";
pub const AUDIENCE: &str = "https://quotaplane.test";

/// One RSA key pair for the whole run (private PEM, public PEM).
pub fn key_pair() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let public = rsa::RsaPublicKey::from(&private);
        (
            private
                .to_pkcs8_pem(LineEnding::LF)
                .expect("private PEM")
                .to_string(),
            public
                .to_public_key_pem(LineEnding::LF)
                .expect("public PEM"),
        )
    })
}

/// Settings whose system API users are read from a YAML file as an operator writes it: one
/// user by `path`, one by base64 `keyData`.
pub fn settings() -> Settings {
    let dir = TempDir::new();
    let file = users_file(&dir);
    let users = SystemApiUsers::load(&file, vec![AUDIENCE.into()]).expect("users load");
    Settings {
        system_api_users: users,
        ..Settings::default()
    }
}

/// Writes the users file (and the key file it names) into `dir`; its path.
pub fn users_file(dir: &TempDir) -> std::path::PathBuf {
    let public = &key_pair().1;
    std::fs::write(dir.0.join("user.pub"), public).expect("key file");
    let key_data = base64::engine::general_purpose::STANDARD.encode(public);
    let file = dir.0.join("users.yaml");
    std::fs::write(
        &file,
        format!("{USER}:\n  path: user.pub\nsystem-user-2:\n  keyData: {key_data}\n"),
    )
    .expect("users file");
    file
}

/// Seconds since the epoch, now (JWTs are checked against the real clock).
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT with `claims`, signed RS256 by the test key.
pub fn signed(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(key_pair().0.as_bytes()).expect("encoding key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("JWT")
}

/// The claims ZITADEL's docs show: iss = sub = user, aud, iat now, exp in an hour.
pub fn claims(user: &str, audience: &str) -> Value {
    json!({"iss": user, "sub": user, "aud": audience, "iat": now(), "exp": now() + 3600})
}

/// A valid token of [`USER`].
pub fn token() -> String {
    signed(&claims(USER, AUDIENCE))
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

impl TestApp {
    pub fn limits_path(instance: &str) -> String {
        format!("/system/v1/instances/{instance}/limits")
    }

    pub async fn set_limits(&self, key: &str, instance: &str, limits: &Value) -> reqwest::Response {
        self.put(&Self::limits_path(instance), key, limits).await
    }

    pub async fn reset_limits(&self, key: &str, instance: &str) -> reqwest::Response {
        self.delete(&Self::limits_path(instance), key).await
    }

    /// The status of the same read on each surface, as the tenant's admin.
    pub async fn statuses_on_every_surface(&self, admin: &str) -> Vec<(&'static str, u16)> {
        let mut statuses = Vec::new();
        for (surface, path) in [
            ("native", "/v1/whoami"),
            ("datarobot", "/api/v2/quotas/"),
            (
                "confluent",
                "/kafka-quotas/v1/client-quotas?spec.cluster=lkc-1&environment=env-1",
            ),
            ("waldur", "/api/chat-quota/usage/"),
        ] {
            statuses.push((surface, self.get(path, admin).await.status().as_u16()));
        }
        statuses
    }
}

on_both_backends_with! {
    settings = settings();

    async fn a_system_api_users_jwt_authenticates_add_quota(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let added = app.add_quota(&token(), &tenant, &quota(REQUESTS, 10, false)).await;
        assert_eq!(added.status(), 200);
        assert_eq!(body(added).await["details"]["resourceOwner"], tenant);
        let by_key_data = signed(&claims("system-user-2", &format!("{AUDIENCE}/")));
        let set = app.set_instance_quota(&by_key_data, &tenant, &quota(REQUESTS, 20, false)).await;
        assert_eq!(set.status(), 200, "a user by keyData, an audience with a trailing slash");
        let set = app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 30, false)).await;
        assert_eq!(set.status(), 200, "system keys keep working");
    }

    async fn wrong_audience_expired_unknown_user_alg_none_and_hs256_tokens_are_401(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let mut expired = claims(USER, AUDIENCE);
        expired["iat"] = json!(now() - 7200);
        expired["exp"] = json!(now() - 3600);
        let mut stale = claims(USER, AUDIENCE);
        stale["iat"] = json!(now() - 3 * 3600);
        let mut other_subject = claims(USER, AUDIENCE);
        other_subject["sub"] = json!("someone-else");
        let public = &key_pair().1;
        let hs256 = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(USER, AUDIENCE),
            &EncodingKey::from_secret(public.as_bytes())).expect("HS256 JWT");
        let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(USER, AUDIENCE)));
        for (case, token) in [
            ("wrong audience", signed(&claims(USER, "https://elsewhere.test"))),
            ("expired", signed(&expired)),
            ("issued more than an hour ago", signed(&stale)),
            ("unknown user", signed(&claims("nobody", AUDIENCE))),
            ("sub is not iss", signed(&other_subject)),
            ("alg none", none),
            ("HS256 keyed with the public key", hs256),
        ] {
            let refused = app.add_quota(&token, &tenant, &quota(REQUESTS, 10, false)).await;
            let error = assert_status(refused, 401, 16, Some("AUTH-7fs1e")).await;
            assert_eq!(error["message"], "Token is invalid (AUTH-7fs1e)", "{case}");
        }
        let elsewhere = app.get("/v1/whoami", &token()).await;
        assert_eq!(elsewhere.status(), 401, "a system API user's JWT counts only on the system API");
    }

    async fn a_blocked_tenant_is_refused_on_every_surface_until_its_limits_are_reset(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let before = app.statuses_on_every_surface(&admin).await;
        assert!(before.iter().all(|(_, status)| *status != 429), "{before:?}");

        let (exhausted, exhausted_admin) = app.tenant_with_admin().await;
        app.set_instance_quota(&app.system, &exhausted, &quota(REQUESTS, 0, true)).await;
        let past_quota = app.statuses_on_every_surface(&exhausted_admin).await;

        let blocked = app.set_limits(&token(), &tenant, &json!({"block": true})).await;
        assert_eq!(blocked.status(), 200);
        let statuses = app.statuses_on_every_surface(&admin).await;
        assert_eq!(statuses, past_quota, "the same refusal as a tenant past its request quota");
        for (surface, status) in &statuses[..3] {
            assert_eq!(*status, 429, "{surface}");
        }
        let refused = app.get("/v1/whoami", &admin).await;
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        assert_eq!(body(refused).await["detail"], "the instance is blocked");
        let other = app.create_tenant("other").await;
        let other_admin = app.key_for(&other, &["admin"], None).await;
        assert_eq!(app.get("/v1/whoami", &other_admin).await.status(), 200, "only that tenant");
        assert_eq!(app.get(&format!("/system/v1/instances/{tenant}"), &app.system).await.status(), 200,
            "the system API is not blocked");

        assert_eq!(app.reset_limits(&app.system, &tenant).await.status(), 200);
        assert_eq!(app.statuses_on_every_surface(&admin).await, before);
        let again = app.reset_limits(&app.system, &tenant).await;
        let error = assert_status(again, 404, 5, Some("COMMAND-9JToT")).await;
        assert_eq!(error["message"], "Limits not found (COMMAND-9JToT)");
    }

    async fn set_limits_keeps_what_is_not_given_and_an_unchanged_call_writes_nothing(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let empty = app.set_limits(&app.system, &tenant, &json!({})).await;
        assert_status(empty, 400, 3, Some("COMMAND-4M9vs")).await;
        let bad = app.set_limits(&app.system, &tenant, &json!({"auditLogRetention": "720h"})).await;
        assert_status(bad, 400, 3, None).await;
        assert_status(app.set_limits(&admin, &tenant, &json!({"block": true})).await, 403, 7, Some("AUTH-5mWD2")).await;

        let first = body(app.set_limits(&app.system, &tenant, &json!({"auditLogRetention": "2592000s"})).await).await;
        assert_eq!(first["details"]["sequence"], "1");
        let instance = body(app.get(&format!("/system/v1/instances/{tenant}"), &app.system).await).await;
        assert_eq!(instance["instance"]["limits"], json!({"auditLogRetention": "2592000s"}), "stored and returned");
        assert_eq!(first["details"]["resourceOwner"], tenant);
        let same = body(app.set_limits(&app.system, &tenant, &json!({"audit_log_retention": "2592000s"})).await).await;
        assert_eq!(same["details"]["sequence"], "1", "nothing changed");
        let blocked = body(app.set_limits(&app.system, &tenant, &json!({"block": true})).await).await;
        assert_eq!(blocked["details"]["sequence"], "2");
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 429);
        let unblocked = app.set_limits(&app.system, &tenant, &json!({"block": false})).await;
        assert_eq!(body(unblocked).await["details"]["sequence"], "3");
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200);
        let instance = body(app.get(&format!("/system/v1/instances/{tenant}"), &app.system).await).await;
        assert_eq!(instance["instance"]["limits"], json!({"auditLogRetention": "2592000s", "block": false}),
            "what is not given is kept");
    }

    async fn bulk_set_limits_checks_every_instance_before_writing_any(app) {
        let (one, one_admin) = app.tenant_with_admin().await;
        let (two, two_admin) = app.tenant_with_admin().await;
        let unknown = uuid::Uuid::new_v4().to_string();
        let path = "/system/v1/instances/limits/_bulk";
        let with_unknown = json!({"limits": [{"instanceId": one, "block": true}, {"instanceId": unknown, "block": true}]});
        assert_status(app.put(path, &app.system, &with_unknown).await, 404, 5, None).await;
        assert_eq!(app.get("/v1/whoami", &one_admin).await.status(), 200, "nothing was written");

        let both = json!({"limits": [{"instanceId": one, "block": true},
            {"instance_id": two, "block": true, "auditLogRetention": "60s"}]});
        let done = app.put(path, &token(), &both).await;
        assert_eq!(done.status(), 200);
        let done = body(done).await;
        assert_eq!(done["targetDetails"][0]["resourceOwner"], one);
        assert_eq!(done["targetDetails"][1]["resourceOwner"], two);
        assert!(done["details"]["changeDate"].is_string());
        assert_eq!(app.get("/v1/whoami", &one_admin).await.status(), 429);
        assert_eq!(app.get("/v1/whoami", &two_admin).await.status(), 429);
    }

    async fn get_instance_and_list_instances_show_tenants_as_instances_paged_as_zitadel_pages(app) {
        let (acme, _) = app.tenant_with_admin().await;
        app.clock.advance(chrono::TimeDelta::seconds(1));
        let globex = app.create_tenant("globex").await;
        let health = app.client.get(format!("{}/system/v1/healthz", app.base)).send().await.expect("GET");
        assert_eq!(health.status(), 200, "Healthz needs no credentials");

        let got = app.get(&format!("/system/v1/instances/{acme}"), &token()).await;
        assert_eq!(got.status(), 200);
        let instance = body(got).await["instance"].clone();
        assert_eq!(instance["id"], acme);
        assert_eq!(instance["name"], "acme");
        assert_eq!(instance["state"], "STATE_RUNNING");
        assert_eq!(instance["details"]["resourceOwner"], acme);
        let unknown = uuid::Uuid::new_v4();
        assert_status(app.get(&format!("/system/v1/instances/{unknown}"), &app.system).await, 404, 5, None).await;

        let search = "/system/v1/instances/_search";
        let all = body(app.post(search, &app.system, &json!({"query": {"asc": true}})).await).await;
        let names: Vec<&str> = all["result"].as_array().expect("result").iter()
            .filter_map(|i| i["name"].as_str()).collect();
        assert_eq!(all["details"]["totalResult"], names.len().to_string());
        let position = |name: &str| names.iter().position(|n| *n == name).expect("listed");
        assert!(position("acme") < position("globex"), "oldest first when asc: {names:?}");
        let page = body(app.post(search, &app.system,
            &json!({"query": {"offset": "1", "limit": 1, "asc": true}, "sortingColumn": "FIELD_NAME_NAME",
                    "queries": [{"idQuery": {"ids": [acme, globex]}}]})).await).await;
        assert_eq!(page["details"]["totalResult"], "2");
        assert_eq!(page["sortingColumn"], "FIELD_NAME_NAME");
        assert_eq!(page["result"].as_array().map(Vec::len), Some(1));
        assert_eq!(page["result"][0]["id"], globex);
        let newest_first = body(app.post(search, &app.system,
            &json!({"queries": [{"idQuery": {"ids": [acme, globex]}}]})).await).await;
        assert_eq!(newest_first["result"][0]["id"], globex, "descending unless asc");
        let by_name = body(app.post(search, &app.system, &json!({"queries": [{"domainQuery": {"domains": ["globex"]}}]})).await).await;
        assert_eq!(by_name["result"][0]["id"], globex);
    }

    async fn grpc_gateway_details_enums_methods_and_a_monotonic_sequence(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let bogus = app.remove_quota(&app.system, &tenant, "UNIT_BOGUS").await;
        assert_status(bogus, 400, 3, None).await;
        let wrong_method = app.get(&TestApp::quotas_path(&tenant), &app.system).await;
        assert_status(wrong_method, 501, 12, None).await;

        let added = body(app.add_quota(&app.system, &tenant, &quota(REQUESTS, 10, false)).await).await;
        assert_eq!(added["details"]["sequence"], "1");
        let removed = body(app.remove_quota(&app.system, &tenant, REQUESTS).await).await;
        assert_eq!(removed["details"]["sequence"], "2");
        let again = body(app.add_quota(&app.system, &tenant, &quota(REQUESTS, 10, false)).await).await;
        assert_eq!(again["details"]["sequence"], "3", "a re-created quota goes on from the instance's sequence");
        let limits = body(app.set_limits(&app.system, &tenant, &json!({"block": false})).await).await;
        assert_eq!(limits["details"]["sequence"], "4", "limits share the instance's sequence");
    }
}
