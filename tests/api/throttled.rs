//! A tenant out of its ZITADEL request quota is throttled on every surface in that vendor's own
//! words: 429, `Retry-After` the real time to the period's end, the vendor's envelope.

use base64::Engine;
use chrono::TimeDelta;
use reqwest::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::body;
use crate::zitadel::{REQUESTS, quota};

fn retry_after(response: &Response) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn throttled(response: Response) -> (Option<String>, Value) {
    assert_eq!(response.status(), 429);
    (retry_after(&response), body(response).await)
}

on_both_backends! {
    async fn a_tenant_out_of_requests_is_throttled_in_each_surfaces_words_until_the_period_ends(app) {
        let tenant = app.create_tenant("throttled").await;
        let key = app.create_key(&tenant, &json!({"roles": ["admin"], "user_id": Uuid::new_v4()})).await;
        let secret = key["secret"].as_str().expect("secret").to_owned();
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{secret}", key["id"].as_str().expect("id"))));
        // One request per hour from the test epoch; the one request is used at once.
        app.set_instance_quota(&app.system, &tenant, &quota(REQUESTS, 1, true)).await;
        assert_eq!(app.get("/v1/whoami", &secret).await.status(), 200);
        app.clock.advance(TimeDelta::seconds(1000));
        let wait = Some("2600".to_owned());

        let waldur = app.client.get(format!("{}/api/chat-quota/usage/", app.base))
            .header("Authorization", format!("Token {secret}")).send().await.expect("waldur");
        assert_eq!(throttled(waldur).await,
            (wait.clone(), json!({"detail": "Request was throttled. Expected available in 2600 seconds."})));

        // Checked against the vendor's schema for the operation's 429, as every Confluent reply.
        let confluent = crate::confluent::call(&app, Some(&basic), reqwest::Method::GET,
            "/kafka-quotas/v1/client-quotas?spec.cluster=lkc-1&environment=env-1", None).await;
        assert_eq!((confluent.status, confluent.header("retry-after")), (429, wait.clone()));
        let failure = &confluent.body;
        let error = &failure["errors"][0];
        assert_eq!((error["status"].clone(), error["code"].clone()), (json!("429"), json!("too_many_requests")), "{failure}");
        assert!(error["detail"].as_str().is_some_and(|d| d.contains("2600")), "{failure}");

        let datarobot = app.get("/api/v2/quotas/", &secret).await;
        let (after, message) = throttled(datarobot).await;
        assert_eq!(after, wait);
        assert_eq!(message, json!({"message": "Too many requests. Retry after 2600 seconds."}));

        let native = app.get("/v1/whoami", &secret).await;
        assert_eq!(native.headers()["content-type"], "application/problem+json");
        let (after, problem) = throttled(native).await;
        assert_eq!((after, problem["code"].clone()), (wait, json!("quota_exceeded")));

        app.clock.advance(TimeDelta::seconds(2600));
        assert_eq!(app.get("/v1/whoami", &secret).await.status(), 200, "a new period");
    }
}
