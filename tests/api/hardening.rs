//! Hardening of the shared surface: `/metrics` without tenant strings and behind an optional
//! token, bootstrap token rules, the failed-authentication throttle, cross-process revocation.

use std::time::Duration;

use quotaplane::app::Settings;
use quotaplane::domain::aggregate::{AggregateStore, AggregateWrite, Row, Written};
use quotaplane::store::AnyStore;
use serde_json::json;
use uuid::Uuid;

use crate::on_both_backends_with;
use crate::support::{TestApp, body};

async fn get_metrics(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let request = app.client.get(format!("{}/metrics", app.base));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("GET /metrics")
}

const METRICS_TOKEN: &str = "metrics-token-for-the-scraper-0123456789";

on_both_backends_with! {
    settings = Settings::default();

    async fn metrics_carry_no_tenant_metric_name_after_its_limits_are_used(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let customer = format!("customer_{}", Uuid::new_v4().simple());
        let limit = json!({"subject": {"org": "o1"}, "metric": customer, "amount": 10,
            "window": {"kind": "none"}});
        assert!(app.put("/v1/limits/by-customer", &admin, &limit).await.status().is_success());
        let consume = json!({"subject": {"org": "o1"}, "metric": customer, "amount": 1});
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume).await.status(), 200);
        let unlimited = json!({"subject": {"org": "o1"}, "metric": format!("{customer}_x"), "amount": 1});
        assert_eq!(app.post("/v1/usage/consume", &admin, &unlimited).await.status(), 200);

        let text = get_metrics(&app, None).await.text().await.expect("text");

        assert!(text.contains("quotaplane_usage_decisions_total"), "decisions are still counted");
        assert!(text.contains("owner=\"native\""), "labelled by owner kind");
        assert!(!text.contains(&customer), "a tenant's metric name leaked into /metrics");
        for cache in ["keys", "limits"] {
            assert!(text.contains(&format!("quotaplane_cache_lookups_total{{cache=\"{cache}\",outcome=\"hit\"}}")), "{cache} hits");
            assert!(text.contains(&format!("quotaplane_cache_lookups_total{{cache=\"{cache}\",outcome=\"miss\"}}")), "{cache} misses");
        }
    }
}

/// Three invalid credentials a minute per address.
fn three_failures() -> Settings {
    Settings {
        auth_failures_per_minute: 3,
        ..Settings::default()
    }
}

on_both_backends_with! {
    settings = three_failures();

    async fn failed_authentication_is_throttled_per_address_in_the_surfaces_envelope(app) {
        let wrong = |i: usize| format!("qps_wrong_secret_{i}");
        let mut statuses = Vec::new();
        for i in 0..3 {
            statuses.push(app.get("/v1/whoami", &wrong(i)).await.status().as_u16());
        }
        assert_eq!(statuses, vec![401, 401, 401]);

        let native = app.get("/v1/whoami", &app.system).await;
        assert_eq!(native.status(), 429, "even a valid key waits out the window from this address");
        assert!(native.headers().get("retry-after").is_some());
        assert_eq!(native.headers()["content-type"], "application/problem+json");
        let waldur = app.get("/api/chat-quota/usage/", &wrong(9)).await;
        assert_eq!(waldur.status(), 429);
        assert!(body(waldur).await.get("detail").is_some(), "Waldur's envelope");

        let text = get_metrics(&app, None).await.text().await.expect("text");
        assert!(text.contains("quotaplane_auth_failures_total{outcome=\"throttled\"}"));
    }

    async fn a_blocked_address_is_answered_in_confluents_envelope_too(app) {
        for i in 0..3 {
            assert_eq!(app.get("/v1/whoami", &format!("qps_nope_{i}")).await.status(), 401);
        }
        let confluent = app.get("/kafka-quotas/v1/client-quotas", "qps_nope_x").await;
        assert_eq!(confluent.status(), 429);
        assert_eq!(body(confluent).await["errors"][0]["status"], "429", "Confluent's envelope");
    }
}

on_both_backends_with! {
    settings = Settings {
        metrics_token: Some(METRICS_TOKEN.into()),
        ..Settings::default()
    };

    async fn metrics_behind_a_token_refuse_callers_without_it(app) {
        assert_eq!(get_metrics(&app, None).await.status(), 401);
        assert_eq!(get_metrics(&app, Some("metrics-token-but-not-the-right-one-012")).await.status(), 401);
        assert_eq!(get_metrics(&app, Some(&app.system)).await.status(), 401, "an API key is not the token");

        let scraped = get_metrics(&app, Some(METRICS_TOKEN)).await;

        assert_eq!(scraped.status(), 200);
        assert!(scraped.text().await.expect("text").contains("quotaplane_"));
    }
}

on_both_backends_with! {
    settings = Settings {
        key_cache_ttl: Duration::ZERO,
        ..Settings::default()
    };

    async fn a_key_revoked_by_another_process_is_refused_once_the_cache_ttl_has_passed(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let key = app.create_key(&tenant, &json!({"roles": ["user"]})).await;
        let secret = key["secret"].as_str().expect("secret");
        assert_eq!(app.get("/v1/whoami", secret).await.status(), 200);

        // Another process (`admin revoke-key`, a replica) deletes it in the shared store.
        let elsewhere = AnyStore::connect(&app.database_url).await.expect("store");
        let tenant_id: Uuid = tenant.parse().expect("uuid");
        let revoke = AggregateWrite {
            carries: Vec::new(),
            rules: None,
            row: Row::DeleteKey { tenant_id, id: key["id"].as_str().expect("id") },
            limits: None,
            unit: None,
            audit: None,
        };
        assert_eq!(elsewhere.write_aggregate(&revoke).await.expect("delete"), Written::Done);

        assert_eq!(app.get("/v1/whoami", secret).await.status(), 401);
    }

    async fn a_changed_bootstrap_token_revokes_the_key_of_the_earlier_one(app) {
        let earlier = app.system.clone();
        assert_eq!(app.get("/v1/whoami", &earlier).await.status(), 200);

        // The operator restarts with another token on the same store.
        let restarted = TestApp::start(&app.database_url, Settings {
            key_cache_ttl: Duration::ZERO,
            ..Settings::default()
        }).await;

        assert_eq!(restarted.get("/v1/whoami", &restarted.system).await.status(), 200);
        assert_eq!(restarted.get("/v1/whoami", &earlier).await.status(), 401);
        assert_eq!(app.get("/v1/whoami", &earlier).await.status(), 401, "on every replica");
    }
}

/// Creates a Confluent client quota with `extra` request headers; its `Location`.
async fn location_of_a_new_quota(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let org = crate::confluent::org(app).await;
    let mut request = app
        .client
        .post(format!("{}{}", app.base, crate::confluent::COLLECTION))
        .header("Authorization", &org.admin)
        .json(&crate::confluent::quota("q", "env-1", "lkc-1", &["sa-1"]));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().expect("location");
    location.to_owned()
}

const FORWARDED: &[(&str, &str)] = &[
    ("Host", "evil.example:1"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "quotas.example"),
];

on_both_backends_with! {
    settings = Settings::default();

    async fn without_trusted_proxies_links_ignore_host_and_forwarded_headers(app) {
        let location = location_of_a_new_quota(&app, FORWARDED).await;

        assert!(location.starts_with(&format!("{}/kafka-quotas/", app.base)), "{location}");
    }
}

on_both_backends_with! {
    settings = Settings {
        trusted_proxies: vec!["127.0.0.1/32".parse().expect("net")],
        ..Settings::default()
    };

    async fn behind_a_trusted_proxy_links_use_the_forwarded_scheme_and_host(app) {
        let location = location_of_a_new_quota(&app, FORWARDED).await;

        assert!(location.starts_with("https://quotas.example/kafka-quotas/"), "{location}");
    }
}
