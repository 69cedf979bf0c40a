//! Bounds on what a tenant's writes may create: a bound reached is a clear refusal naming it.

use quotaplane::app::Settings;
use quotaplane::domain::bounds::Bounds;
use serde_json::json;

use crate::on_both_backends_with;
use crate::support::body;

fn small() -> Settings {
    Settings {
        bounds: Bounds {
            limits_per_tenant: 14,
            limits_per_metric: 3,
            ..Bounds::default()
        },
        ..Settings::default()
    }
}

fn limit(metric: &str) -> serde_json::Value {
    json!({"subject": {}, "metric": metric, "amount": 1, "window": {"kind": "day"}})
}

on_both_backends_with! {
    settings = small();

    async fn limits_past_the_per_metric_and_per_tenant_bounds_are_refused_by_name(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for i in 0..3 {
            assert_eq!(app.put(&format!("/v1/limits/a{i}"), &admin, &limit("a")).await.status(), 201);
        }
        let refused = app.put("/v1/limits/a3", &admin, &limit("a")).await;
        assert_eq!(refused.status(), 409);
        assert!(body(refused).await["detail"].as_str().is_some_and(|d| d.contains("limits_per_metric")));
        assert_eq!(app.put("/v1/limits/a0", &admin, &limit("a")).await.status(), 200, "a replacement adds nothing");
        // The tenant also holds what the server made with it, its seven applied-quota defaults
        // and its three chat-token defaults: 3 + 7 + 3 + 1 = 14.
        assert_eq!(app.put("/v1/limits/b0", &admin, &limit("b")).await.status(), 201);
        let refused = app.put("/v1/limits/b1", &admin, &limit("b")).await;
        assert_eq!(refused.status(), 409);
        assert!(body(refused).await["detail"].as_str().is_some_and(|d| d.contains("limits_per_tenant")));
        assert_eq!(app.delete("/v1/limits/a2", &admin).await.status(), 204);
        assert_eq!(app.put("/v1/limits/b1", &admin, &limit("b")).await.status(), 201, "room again");
    }
}

on_both_backends_with! {
    settings = Settings::default();

    async fn a_datarobot_quota_needing_more_limits_than_a_quota_may_own_is_422(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let policies: Vec<_> = (0..1001).map(|i| json!({"consumerType": "user",
            "consumerId": format!("c{i}"), "rules": [{"rule": "requests", "limit": 1}]})).collect();
        let request = json!({"resourceType": "deployment", "resourceId": "d",
            "defaultRules": [{"rule": "requests", "limit": 5}], "policies": policies});
        let refused = app.post("/api/v2/quotas/", &admin, &request).await;
        assert_eq!(refused.status(), 422);
        let listed = body(app.get("/api/v2/quotas/", &admin).await).await;
        assert_eq!(listed["totalCount"], 0);
    }
}
