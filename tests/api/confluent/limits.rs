//! A client quota as engine limits, and the native look-up of a principal's effective quota.

use chrono::TimeDelta;
use serde_json::{Value, json};

use super::{create, native, org, patch, quota};
use crate::on_both_backends;
use crate::support::TestApp;

async fn consume(app: &TestApp, auth: &str, principal: &str, metric: &str, amount: i64) -> u16 {
    let subject = json!({"environment": "env-1", "kafka_cluster": "lkc-1", "principal": principal});
    app.client
        .post(format!("{}/v1/usage/consume", app.base))
        .header("Authorization", auth)
        .json(&json!({"subject": subject, "metric": metric, "amount": amount}))
        .send()
        .await
        .expect("consume")
        .status()
        .as_u16()
}

fn owned_by<'a>(limits: &'a Value, id: &str) -> Vec<&'a Value> {
    let owner = format!("confluent:{id}");
    limits
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["owner"] == owner.as_str())
        .collect()
}

on_both_backends! {
    async fn a_client_quota_becomes_per_second_limits_that_the_engine_enforces(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1", "sa-2"])).await;
        let id = created["id"].as_str().expect("id");
        let (_, limits) = native(&app, &org.admin, "/v1/limits").await;
        let owned = owned_by(&limits, id);
        assert_eq!(owned.len(), 4, "{limits}");
        let ingress = owned.iter().find(|l| l["metric"] == "kafka_ingress_bytes" && l["subject"]["principal"] == "sa-1")
            .expect("ingress limit of sa-1");
        assert_eq!(ingress["amount"], 1000);
        assert_eq!(ingress["window"]["kind"], "second");
        assert_eq!(ingress["blocking"], true);
        assert_eq!(ingress["subject"], json!({"environment": "env-1", "kafka_cluster": "lkc-1", "principal": "sa-1"}));

        assert_eq!(consume(&app, &org.admin, "sa-1", "kafka_ingress_bytes", 1000).await, 200);
        assert_eq!(consume(&app, &org.admin, "sa-1", "kafka_ingress_bytes", 1).await, 429);
        assert_eq!(consume(&app, &org.admin, "sa-2", "kafka_ingress_bytes", 1).await, 200, "each principal has its own");
        assert_eq!(consume(&app, &org.admin, "sa-1", "kafka_egress_bytes", 2000).await, 200);
        app.clock.advance(TimeDelta::seconds(1));
        assert_eq!(consume(&app, &org.admin, "sa-1", "kafka_ingress_bytes", 1000).await, 200, "a new second");

        // An update moves the limits with it; a principal removed loses its limits.
        let updated = patch(&app, &org.admin, id, &json!({"spec": {"environment": {"id": "env-1"},
            "throughput": {"ingress_byte_rate": "5000", "egress_byte_rate": "6000"},
            "principals": [{"id": "sa-2"}]}})).await;
        assert_eq!(updated.status, 200);
        let (_, limits) = native(&app, &org.admin, "/v1/limits").await;
        let owned = owned_by(&limits, id);
        assert_eq!(owned.len(), 2, "{limits}");
        assert!(owned.iter().all(|l| l["subject"]["principal"] == "sa-2"));
        assert!(owned.iter().any(|l| l["amount"] == 5000) && owned.iter().any(|l| l["amount"] == 6000));
        assert_eq!(consume(&app, &org.admin, "sa-1", "kafka_ingress_bytes", 1_000_000).await, 200, "sa-1 is unlimited now");

        // The native API may read these limits but not replace (the id is the surface's) or
        // delete them.
        let limit_id = owned[0]["id"].as_str().expect("limit id");
        let path = format!("/v1/limits/{}", limit_id.replace('<', "%3C").replace('>', "%3E"));
        let replaced = app.client.put(format!("{}{path}", app.base)).header("Authorization", &org.admin)
            .json(&json!({"subject": {}, "metric": "m", "amount": 1, "window": {"kind": "none"}}))
            .send().await.expect("put");
        assert_eq!(replaced.status(), 400);
        let deleted = app.client.delete(format!("{}{path}", app.base)).header("Authorization", &org.admin)
            .send().await.expect("delete");
        assert_eq!(deleted.status(), 409);
    }

    async fn each_principal_without_its_own_quota_gets_the_whole_default_for_itself(app) {
        let org = org(&app).await;
        create(&app, &org, &quota("everyone", "env-1", "lkc-1", &["<default>"])).await;
        let mut own = quota("sa-own only", "env-1", "lkc-1", &["sa-own"]);
        own["spec"]["throughput"]["ingress_byte_rate"] = json!("300");
        create(&app, &org, &own).await;
        for i in 0..10 {
            let principal = format!("sa-{i}");
            assert_eq!(consume(&app, &org.admin, &principal, "kafka_ingress_bytes", 1000).await, 200,
                "{principal}: the whole default for itself");
        }
        for i in 0..10 {
            let principal = format!("sa-{i}");
            assert_eq!(consume(&app, &org.admin, &principal, "kafka_ingress_bytes", 1).await, 429,
                "{principal}: its own second is spent");
        }
        assert_eq!(consume(&app, &org.admin, "sa-own", "kafka_ingress_bytes", 301).await, 429,
            "a principal with its own quota gets only its own, not the default");
        assert_eq!(consume(&app, &org.admin, "sa-own", "kafka_ingress_bytes", 300).await, 200);
    }

    async fn the_effective_quota_of_a_principal_is_its_own_else_the_default(app) {
        let org = org(&app).await;
        let fallback = create(&app, &org, &quota("everyone", "env-1", "lkc-1", &["<default>"])).await;
        let own = create(&app, &org, &quota("sa-1 only", "env-1", "lkc-1", &["sa-1"])).await;
        let base = "/v1/kafka/environments/env-1/clusters/lkc-1/principals";

        let (status, mine) = native(&app, &org.user, &format!("{base}/sa-1/client-quota")).await;
        assert_eq!(status, 200, "{mine}");
        assert_eq!(mine["client_quota_id"], own["id"]);
        assert_eq!(mine["applies_via"], "sa-1");
        assert_eq!(mine["throughput"], json!({"ingress_byte_rate": 1000, "egress_byte_rate": 2000}));
        let limit = mine["limits"]["ingress"].as_str().expect("limit id");
        let (status, _) = native(&app, &org.admin, &format!("/v1/limits/{limit}")).await;
        assert_eq!(status, 200, "the named limit exists");

        let (status, other) = native(&app, &org.user, &format!("{base}/sa-9/client-quota")).await;
        assert_eq!(status, 200);
        assert_eq!(other["client_quota_id"], fallback["id"]);
        assert_eq!(other["applies_via"], "<default>");
        assert_eq!(other["principal"], "sa-9");

        let (status, problem) = native(&app, &org.user,
            "/v1/kafka/environments/env-1/clusters/lkc-2/principals/sa-1/client-quota").await;
        assert_eq!(status, 404);
        assert_eq!(problem["code"], "not_found");
        let stranger = crate::confluent::org(&app).await;
        let (status, _) = native(&app, &stranger.admin, &format!("{base}/sa-1/client-quota")).await;
        assert_eq!(status, 404, "another organization sees nothing");
    }
}
