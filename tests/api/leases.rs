//! Leases: every admitted lease can be released and expires, whether or not a limit applied to
//! it, and a tenant holds a bounded number of them open.

use chrono::TimeDelta;
use quotaplane::app::Settings;
use quotaplane::domain::bounds::Bounds;
use serde_json::json;

use crate::on_both_backends_with;
use crate::support::body;

fn two_open_leases() -> Settings {
    Settings {
        bounds: Bounds {
            open_leases_per_tenant: 2,
            ..Bounds::default()
        },
        ..Settings::default()
    }
}

fn lease(metric: &str, ttl_seconds: i64) -> serde_json::Value {
    json!({"subject": {"svc": "s"}, "metric": metric, "amount": 1, "ttl_seconds": ttl_seconds})
}

on_both_backends_with! {
    settings = Settings::default();

    async fn a_lease_on_a_metric_no_limit_applies_to_can_be_released(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let granted = app.post("/v1/leases", &admin, &lease("unlimited", 30)).await;
        assert_eq!(granted.status(), 201);
        let id = body(granted).await["id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 204);
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 404, "released once");
    }

    async fn a_lease_whose_limit_was_deleted_can_still_be_released(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let slots = json!({"subject": {"svc": "s"}, "metric": "concurrent", "amount": 2, "window": {"kind": "none"}});
        assert_eq!(app.put("/v1/limits/slots", &admin, &slots).await.status(), 201);
        let granted = app.post("/v1/leases", &admin, &lease("concurrent", 30)).await;
        assert_eq!(granted.status(), 201);
        let id = body(granted).await["id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(app.delete("/v1/limits/slots", &admin).await.status(), 204);
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 204);
    }

    async fn a_lease_of_another_tenant_is_not_found(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let (_, other) = app.tenant_with_admin().await;
        let granted = app.post("/v1/leases", &admin, &lease("unlimited", 30)).await;
        let id = body(granted).await["id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &other).await.status(), 404);
        assert_eq!(app.delete(&format!("/v1/leases/{id}"), &admin).await.status(), 204, "still the owner's");
    }
}

on_both_backends_with! {
    settings = two_open_leases();

    async fn open_leases_past_the_per_tenant_bound_are_refused_by_name_until_one_is_released_or_expires(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let (_, other) = app.tenant_with_admin().await;
        let first = app.post("/v1/leases", &admin, &lease("unlimited", 30)).await;
        assert_eq!(first.status(), 201);
        let first = body(first).await["id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(app.post("/v1/leases", &admin, &lease("unlimited", 60)).await.status(), 201);

        let refused = app.post("/v1/leases", &admin, &lease("unlimited", 30)).await;
        assert_eq!(refused.status(), 409);
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let detail = body(refused).await["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("open_leases_per_tenant = 2"), "{detail}");
        assert_eq!(app.post("/v1/leases", &other, &lease("unlimited", 30)).await.status(), 201, "per tenant");

        assert_eq!(app.delete(&format!("/v1/leases/{first}"), &admin).await.status(), 204);
        assert_eq!(app.post("/v1/leases", &admin, &lease("unlimited", 30)).await.status(), 201, "room again");
        assert_eq!(app.post("/v1/leases", &admin, &lease("unlimited", 30)).await.status(), 409);
        app.clock.advance(TimeDelta::seconds(31));
        assert_eq!(app.post("/v1/leases", &admin, &lease("unlimited", 30)).await.status(), 201, "an expired lease is not open");
    }
}
