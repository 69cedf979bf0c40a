//! The request rate limit's two buckets: one per key, one per tenant shared by all its keys.

use quotaplane::app::Settings;
use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends_with;
use crate::support::body;

fn settings() -> Settings {
    Settings {
        rate_limit_requests: 5,
        rate_limit_tenant_requests: Some(7),
        rate_limit_window: std::time::Duration::from_secs(60),
        ..Settings::default()
    }
}

on_both_backends_with! {
    settings = settings();

    async fn a_tenant_past_its_shared_budget_is_refused_with_the_tenant_buckets_headers(app) {
        let tenant = app.create_tenant("busy").await;
        let first = app.create_key(&tenant, &json!({"roles": ["admin"]})).await;
        let second = app.create_key(&tenant, &json!({"roles": ["user"]})).await;
        let other_tenant = app.create_tenant("quiet").await;
        let other = app.create_key(&other_tenant, &json!({"roles": ["admin"]})).await;
        let secret = |key: &serde_json::Value| key["secret"].as_str().expect("secret").to_owned();
        let (first, second, other) = (secret(&first), secret(&second), secret(&other));

        for _ in 0..5 {
            let answer = app.get("/v1/whoami", &first).await;
            assert_eq!(answer.status(), StatusCode::OK);
            assert_eq!(answer.headers()["x-ratelimit-limit"], "5", "admitted: the key's headers");
        }
        for _ in 0..2 {
            assert_eq!(app.get("/v1/whoami", &second).await.status(), StatusCode::OK);
        }
        let refused = app.get("/v1/whoami", &second).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["x-ratelimit-limit"], "7", "the tenant's bucket refused");
        assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(body(refused).await["code"], "rate_limited");
        // Another tenant has its own budget.
        assert_eq!(app.get("/v1/whoami", &other).await.status(), StatusCode::OK);
    }

    async fn a_key_past_its_own_budget_is_refused_with_the_key_buckets_headers(app) {
        let tenant = app.create_tenant("busy").await;
        let key = app.create_key(&tenant, &json!({"roles": ["admin"]})).await;
        let key = key["secret"].as_str().expect("secret").to_owned();
        for _ in 0..5 {
            assert_eq!(app.get("/v1/whoami", &key).await.status(), StatusCode::OK);
        }
        let refused = app.get("/v1/whoami", &key).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["x-ratelimit-limit"], "5", "the key's bucket refused");
        assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    }
}
