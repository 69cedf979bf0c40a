//! Browsers on an allowed origin (Waldur's HomePort) may call every surface: preflights are
//! answered before authentication, and answers carry the CORS headers a page needs.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::on_both_backends_with;
use crate::support::body;

const HOMEPORT: &str = "https://homeport.example.com";

fn allow_homeport() -> quotaplane::app::Settings {
    quotaplane::app::Settings {
        cors_allowed_origins: vec![HOMEPORT.to_owned()],
        ..Default::default()
    }
}

on_both_backends_with! {
    settings = allow_homeport();

    async fn a_browser_preflight_is_answered_before_authentication_on_every_surface(app) {
        for (method, path) in [("POST", "/api/chat-quota/set_quota/"), ("PATCH", "/kafka-quotas/v1/client-quotas/cq-1"),
                               ("GET", "/api/v2/quotas/"), ("PUT", "/system/v1/instances/i-1/quotas"), ("GET", "/v1/whoami")] {
            let preflight = app.client.request(Method::OPTIONS, format!("{}{path}", app.base))
                .header("Origin", HOMEPORT)
                .header("Access-Control-Request-Method", method)
                .header("Access-Control-Request-Headers", "authorization,content-type,x-request-id")
                .send().await.expect("preflight");
            assert_eq!(preflight.status(), 200, "{path}");
            let header = |name: &str| preflight.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_lowercase();
            assert_eq!(header("access-control-allow-origin"), HOMEPORT, "{path}");
            assert!(header("access-control-allow-methods").contains(&method.to_lowercase()), "{path}");
            for allowed in ["authorization", "content-type", "x-request-id"] {
                assert!(header("access-control-allow-headers").contains(allowed), "{path}: {allowed}");
            }
            assert!(!header("x-request-id").is_empty(), "{path}: still traced");
        }
    }

    async fn answers_to_an_allowed_origin_expose_the_rate_limit_headers_and_others_get_none(app) {
        let tenant = app.create_tenant("homeport").await;
        let token = app.key_for(&tenant, &["user"], Some(Uuid::new_v4())).await;
        let answer = app.client.get(format!("{}/api/chat-quota/usage/", app.base))
            .header("Origin", HOMEPORT).header("Authorization", format!("Token {token}"))
            .send().await.expect("GET");
        assert_eq!(answer.status(), 200);
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_lowercase();
        assert_eq!(header("access-control-allow-origin"), HOMEPORT);
        for exposed in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-request-id", "location"] {
            assert!(header("access-control-expose-headers").contains(exposed), "{exposed}");
        }
        let refused = app.client.get(format!("{}/api/chat-quota/usage/", app.base))
            .header("Origin", HOMEPORT).send().await.expect("GET");
        assert_eq!(refused.status(), 401, "only preflights skip authentication");
        assert!(refused.headers().contains_key("access-control-allow-origin"), "a page can read the 401");
        let elsewhere = app.client.request(Method::OPTIONS, format!("{}/api/chat-quota/usage/", app.base))
            .header("Origin", "https://evil.example.com").header("Access-Control-Request-Method", "GET")
            .send().await.expect("preflight");
        assert!(!elsewhere.headers().contains_key("access-control-allow-origin"), "another origin is not allowed");
        // An OPTIONS that is not a preflight is an ordinary request: DRF's metadata, with CORS headers.
        let metadata = app.client.request(Method::OPTIONS, format!("{}/api/chat-quota/usage/", app.base))
            .header("Origin", HOMEPORT).header("Authorization", format!("Token {token}"))
            .send().await.expect("OPTIONS");
        assert_eq!(metadata.status(), 200);
        assert!(metadata.headers().contains_key("access-control-allow-origin"));
        assert_eq!(body(metadata).await["name"], json!("Usage"));
    }
}

crate::on_both_backends! {
    async fn without_allowed_origins_no_cors_headers_are_sent_and_preflights_need_credentials(app) {
        let preflight = app.client.request(Method::OPTIONS, format!("{}/api/chat-quota/usage/", app.base))
            .header("Origin", HOMEPORT).header("Access-Control-Request-Method", "GET")
            .send().await.expect("preflight");
        assert_eq!(preflight.status(), 401);
        assert!(!preflight.headers().contains_key("access-control-allow-origin"));
    }
}
