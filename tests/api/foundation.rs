//! The foundation: authentication, tenancy, the shared layers and the error envelope.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, body};

fn basic(key_id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key_id}:{secret}"));
    format!("Basic {encoded}")
}

on_both_backends! {
    async fn each_auth_scheme_finds_the_same_key(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let key = app.create_key(&tenant, &json!({"roles": ["user"], "description": "ci"})).await;
        let (id, secret) = (key["id"].as_str().unwrap_or_default(), key["secret"].as_str().unwrap_or_default());
        for header in [format!("Bearer {secret}"), format!("Token {secret}"), basic(id, secret)] {
            let response = app.client.get(format!("{}/v1/whoami", app.base))
                .header("Authorization", &header).send().await.expect("whoami");
            assert_eq!(response.status(), 200, "{header}");
            let me = body(response).await;
            assert_eq!(me["key_id"], id);
            assert_eq!(me["tenant_id"], tenant.as_str());
            assert_eq!(me["roles"], json!(["user"]));
        }
    }

    async fn basic_auth_with_another_keys_id_is_refused(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let key = app.create_key(&tenant, &json!({"roles": ["user"]})).await;
        let response = app.client.get(format!("{}/v1/whoami", app.base))
            .header("Authorization", basic("NOTTHEKEYID00000", key["secret"].as_str().unwrap_or_default()))
            .send().await.expect("whoami");
        assert_eq!(response.status(), 401);
    }

    async fn a_request_without_credentials_is_401_with_a_challenge(app) {
        let response = app.client.get(format!("{}/v1/whoami", app.base)).send().await.expect("get");
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("www-authenticate").is_some());
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem = body(response).await;
        assert_eq!(problem["status"], 401);
        assert_eq!(problem["code"], "unauthenticated");
    }

    async fn a_revoked_key_is_refused_at_once(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let key = app.create_key(&tenant, &json!({"roles": ["user"]})).await;
        let secret = key["secret"].as_str().unwrap_or_default();
        assert_eq!(app.get("/v1/whoami", secret).await.status(), 200);
        let revoke = app.delete(&format!("/v1/tenants/{tenant}/api-keys/{}", key["id"].as_str().unwrap_or_default()), &admin).await;
        assert_eq!(revoke.status(), 204);
        assert_eq!(app.get("/v1/whoami", secret).await.status(), 401);
    }

    async fn keys_are_listed_without_secrets(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        app.create_key(&tenant, &json!({"roles": ["user"], "description": "worker"})).await;
        let keys = body(app.get(&format!("/v1/tenants/{tenant}/api-keys"), &admin).await).await;
        let keys = keys.as_array().cloned().unwrap_or_default();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.get("secret").is_none()));
        assert!(keys.iter().any(|k| k["description"] == "worker"));
    }

    async fn an_admin_of_one_tenant_finds_nothing_of_another(app) {
        let (_, admin_a) = app.tenant_with_admin().await;
        let (tenant_b, _) = app.tenant_with_admin().await;
        let key_b = app.create_key(&tenant_b, &json!({"roles": ["user"]})).await;
        let key_b = key_b["id"].as_str().unwrap_or_default();
        for response in [
            app.get(&format!("/v1/tenants/{tenant_b}"), &admin_a).await,
            app.get(&format!("/v1/tenants/{tenant_b}/api-keys"), &admin_a).await,
            app.post(&format!("/v1/tenants/{tenant_b}/api-keys"), &admin_a, &json!({"roles": ["admin"]})).await,
            app.delete(&format!("/v1/tenants/{tenant_b}/api-keys/{key_b}"), &admin_a).await,
        ] {
            assert_eq!(response.status(), 404);
        }
    }

    async fn an_admin_may_not_grant_system_and_a_user_may_not_make_keys(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let path = format!("/v1/tenants/{tenant}/api-keys");
        assert_eq!(app.post(&path, &admin, &json!({"roles": ["system"]})).await.status(), 403);
        let user = app.key_for(&tenant, &["user"], None).await;
        assert_eq!(app.post(&path, &user, &json!({"roles": ["user"]})).await.status(), 403);
        assert_eq!(app.get("/v1/tenants", &admin).await.status(), 403);
        assert_eq!(app.post(&path, &admin, &json!({"roles": ["staff"]})).await.status(), 201);
    }

    async fn bad_input_is_pointed_at_and_malformed_json_is_400(app) {
        let invalid = app.post("/v1/tenants", &app.system, &json!({"name": ""})).await;
        assert_eq!(invalid.status(), 422);
        assert_eq!(body(invalid).await["errors"][0]["pointer"], "/name");
        let (tenant, admin) = app.tenant_with_admin().await;
        let bad_role = app.post(&format!("/v1/tenants/{tenant}/api-keys"), &admin, &json!({"roles": ["admin", "root"]})).await;
        assert_eq!(bad_role.status(), 422);
        assert_eq!(body(bad_role).await["errors"][0]["pointer"], "/roles/1");
        let malformed = app.request(Method::POST, "/v1/tenants", &app.system)
            .header("content-type", "application/json").body("{\"name\":").send().await.expect("post");
        assert_eq!(malformed.status(), 400);
        assert_eq!(body(malformed).await["code"], "malformed");
    }

    async fn a_well_formed_request_id_is_kept_and_another_is_made(app) {
        let kept = app.client.get(format!("{}/healthz", app.base))
            .header("x-request-id", "trace-abc.123").send().await.expect("get");
        assert_eq!(kept.headers()["x-request-id"], "trace-abc.123");
        let replaced = app.client.get(format!("{}/healthz", app.base))
            .header("x-request-id", "no spaces allowed").send().await.expect("get");
        let made = replaced.headers()["x-request-id"].to_str().unwrap_or_default().to_owned();
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        let error = app.get("/v1/nowhere", &app.system).await;
        let id = error.headers()["x-request-id"].to_str().unwrap_or_default().to_owned();
        assert_eq!(body(error).await["request_id"], id);
    }

    async fn an_oversized_body_is_413_in_the_problem_envelope(app) {
        let huge = "x".repeat(1024 * 1024 + 1);
        let response = app.post("/v1/tenants", &app.system, &json!({"name": huge})).await;
        assert_eq!(response.status(), 413);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(body(response).await["code"], "payload_too_large");
    }

    async fn unknown_routes_and_wrong_methods_are_problems(app) {
        let missing = app.get("/v1/nowhere", &app.system).await;
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers()["content-type"], "application/problem+json");
        assert_eq!(body(missing).await["code"], "not_found");
        let wrong = app.request(Method::PATCH, "/v1/tenants", &app.system).send().await.expect("patch");
        assert_eq!(wrong.status(), 405);
        assert_eq!(body(wrong).await["code"], "method_not_allowed");
    }

    async fn probes_and_metrics_need_no_key(app) {
        for path in ["/healthz", "/readyz", "/openapi.json"] {
            let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("get");
            assert_eq!(response.status(), 200, "{path}");
        }
        app.get("/v1/whoami", &app.system).await;
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.expect("get");
        let text = metrics.text().await.unwrap_or_default();
        assert!(text.contains("quotaplane_http_requests_total"), "{text}");
        assert!(text.contains("route=\"/v1/whoami\""), "{text}");
        assert!(text.contains("quotaplane_http_request_duration_seconds_bucket"), "{text}");
    }

    async fn a_method_of_the_clients_own_is_counted_as_other_not_by_its_name(app) {
        for made_up in ["BREW", "WHEN", "PROPFIND"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("method");
            let response = app.request(method, "/v1/tenants", &app.system).send().await.expect("send");
            assert_eq!(response.status(), 405, "{made_up}");
        }
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.expect("get");
        let text = metrics.text().await.unwrap_or_default();
        for made_up in ["BREW", "WHEN", "PROPFIND"] {
            assert!(!text.contains(made_up), "{made_up} is a metric label: {text}");
        }
        assert!(text.contains("method=\"other\""), "{text}");
    }
}

mod rate_limit {
    use super::*;
    use quotaplane::app::Settings;

    async fn case(app: TestApp) {
        let (_, admin) = app.tenant_with_admin().await;
        let first = app.get("/v1/whoami", &admin).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["x-ratelimit-limit"], "3");
        assert_eq!(first.headers()["x-ratelimit-remaining"], "2");
        let reset: u64 = first.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap_or("x")
            .parse()
            .expect("relative seconds");
        assert!((1..=60).contains(&reset));
        app.get("/v1/whoami", &admin).await;
        app.get("/v1/whoami", &admin).await;
        let refused = app.get("/v1/whoami", &admin).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap_or("x")
            .parse()
            .expect("seconds");
        assert!((1..=20).contains(&retry), "{retry}");
        assert_eq!(body(refused).await["code"], "rate_limited");
        // Another key has its own budget.
        assert_eq!(app.get("/v1/whoami", &app.system).await.status(), 200);
    }

    fn settings() -> Settings {
        Settings {
            rate_limit_requests: 3,
            rate_limit_window: std::time::Duration::from_secs(60),
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn a_key_past_its_rate_limit_gets_429_with_retry_after_on_sqlite() {
        case(
            TestApp::spawn_with(Backend::Sqlite, settings())
                .await
                .expect("sqlite"),
        )
        .await;
    }

    #[tokio::test]
    async fn a_key_past_its_rate_limit_gets_429_with_retry_after_on_postgres() {
        if let Some(app) = TestApp::spawn_with(Backend::Postgres, settings()).await {
            case(app).await;
        }
    }
}
