//! Create, read, update, delete; tenancy; headers; the limits a client quota becomes.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};

use super::{COLLECTION, call, create, get, org, patch, quota};
use crate::on_both_backends;

on_both_backends! {
    async fn creating_a_client_quota_returns_202_with_location_and_filled_references(app) {
        let org = org(&app).await;
        let reply = call(&app, Some(&org.admin), Method::POST, COLLECTION,
            Some(&quota("QuotaForSA1", "env-1", "lkc-1", &["sa-1", "u-2"]))).await;
        assert_eq!(reply.status, 202);
        let q = &reply.body;
        let id = q["id"].as_str().expect("id");
        assert!(id.starts_with("cq-") && id.len() > 3, "{id}");
        assert_eq!(reply.header("location"), Some(format!("{}{COLLECTION}/{id}", app.base)));
        assert_eq!(q["api_version"], "kafka-quotas/v1");
        assert_eq!(q["kind"], "ClientQuota");
        assert_eq!(q["metadata"]["self"], format!("{}{COLLECTION}/{id}", app.base));
        assert_eq!(q["metadata"]["resource_name"],
            format!("crn://confluent.cloud/organization={}/client-quota={id}", org.tenant));
        assert_eq!(q["metadata"]["created_at"], "2026-03-11T10:15:00Z");
        assert_eq!(q["metadata"]["created_at"], q["metadata"]["updated_at"]);
        let spec = &q["spec"];
        assert_eq!(spec["display_name"], "QuotaForSA1");
        assert_eq!(spec["throughput"], json!({"ingress_byte_rate": "1000", "egress_byte_rate": "2000"}));
        assert_eq!(spec["cluster"]["id"], "lkc-1");
        assert_eq!(spec["cluster"]["environment"], "env-1");
        assert_eq!(spec["cluster"]["related"], format!("{}/cmk/v2/clusters/lkc-1", app.base));
        assert_eq!(spec["cluster"]["resource_name"], format!(
            "crn://confluent.cloud/organization={}/environment=env-1/cloud-cluster=lkc-1", org.tenant));
        assert_eq!(spec["environment"]["related"], format!("{}/org/v2/environments/env-1", app.base));
        assert_eq!(spec["principals"][0]["related"], format!("{}/iam/v2/service-accounts/sa-1", app.base));
        assert_eq!(spec["principals"][1]["resource_name"], format!(
            "crn://confluent.cloud/organization={}/user=u-2", org.tenant));
    }

    async fn a_created_client_quota_reads_back_as_created(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["<default>"])).await;
        let id = created["id"].as_str().expect("id");
        let read = get(&app, &org.user, id).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body, created);
        assert_eq!(read.body["spec"]["principals"][0]["id"], "<default>");
    }

    async fn patching_changes_only_what_it_names_and_moves_updated_at(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("before", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        app.clock.advance(TimeDelta::seconds(90));
        let reply = patch(&app, &org.admin, id, &json!({"spec": {
            "display_name": "after",
            "throughput": {"ingress_byte_rate": "7", "egress_byte_rate": "0"},
            "principals": [{"id": "sa-2"}, {"id": "sa-3"}],
            "environment": {"id": "env-1"}}})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let spec = &reply.body["spec"];
        assert_eq!(spec["display_name"], "after");
        assert_eq!(spec["description"], "made by a test");
        assert_eq!(spec["throughput"], json!({"ingress_byte_rate": "7", "egress_byte_rate": "0"}));
        assert_eq!(spec["principals"].as_array().map(Vec::len), Some(2));
        assert_eq!(spec["cluster"]["id"], "lkc-1");
        assert_eq!(reply.body["metadata"]["created_at"], created["metadata"]["created_at"]);
        assert_eq!(reply.body["metadata"]["updated_at"], "2026-03-11T10:16:30Z");
        assert_eq!(get(&app, &org.admin, id).await.body, reply.body);
        // Only the description: the rest stays.
        let reply = patch(&app, &org.admin, id, &json!({"spec": {
            "description": "new words", "environment": {"id": "env-1"}}})).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["spec"]["description"], "new words");
        assert_eq!(reply.body["spec"]["display_name"], "after");
    }

    async fn cluster_and_environment_are_immutable(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        let moved = patch(&app, &org.admin, id, &json!({"spec": {
            "environment": {"id": "env-2"}, "display_name": "x"}})).await;
        assert_eq!(moved.status, 422);
        assert_eq!(moved.error()["source"]["pointer"], "/spec/environment/id");
        let moved = patch(&app, &org.admin, id, &json!({"spec": {
            "environment": {"id": "env-1"}, "cluster": {"id": "lkc-2"}}})).await;
        assert_eq!(moved.status, 422);
        assert_eq!(moved.error()["source"]["pointer"], "/spec/cluster/id");
        let same = patch(&app, &org.admin, id, &json!({"spec": {
            "environment": {"id": "env-1"}, "cluster": {"id": "lkc-1"}}})).await;
        assert_eq!(same.status, 200);
        let read = get(&app, &org.admin, id).await;
        assert_eq!(read.body["spec"]["cluster"]["id"], "lkc-1");
        assert_eq!(read.body["spec"]["environment"]["id"], "env-1");
        assert_eq!(read.body["spec"]["display_name"], "q");
    }

    async fn deleting_answers_204_then_404_and_removes_the_limits(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        let path = format!("{COLLECTION}/{id}");
        let deleted = call(&app, Some(&org.admin), Method::DELETE, &path, None).await;
        assert_eq!(deleted.status, 204);
        assert!(deleted.body.is_null());
        let again = call(&app, Some(&org.admin), Method::DELETE, &path, None).await;
        assert_eq!(again.status, 404);
        assert_eq!(again.error()["status"], "404");
        assert_eq!(get(&app, &org.admin, id).await.status, 404);
        assert_eq!(crate::confluent::client_quota_limits(&app, &org.admin).await, Vec::<Value>::new());
    }

    async fn another_organizations_client_quota_is_404(app) {
        let mine = org(&app).await;
        let theirs = org(&app).await;
        let created = create(&app, &theirs, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        let path = format!("{COLLECTION}/{id}");
        assert_eq!(get(&app, &mine.admin, id).await.status, 404);
        let body = json!({"spec": {"display_name": "mine now", "environment": {"id": "env-1"}}});
        assert_eq!(patch(&app, &mine.admin, id, &body).await.status, 404);
        assert_eq!(call(&app, Some(&mine.admin), Method::DELETE, &path, None).await.status, 404);
        let listed = crate::confluent::list(&app, &mine.admin, "spec.cluster=lkc-1&environment=env-1").await;
        assert_eq!(listed.body["data"], json!([]));
        assert_eq!(listed.body["metadata"]["total_size"], 0);
        // The same principal on the same cluster id is free in another organization.
        create(&app, &mine, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        assert_eq!(get(&app, &theirs.admin, id).await.body["spec"]["display_name"], "q");
    }

    async fn every_answer_carries_a_request_id_and_the_rate_limit_headers(app) {
        let org = org(&app).await;
        let created = call(&app, Some(&org.admin), Method::POST, COLLECTION,
            Some(&quota("q", "env-1", "lkc-1", &["sa-1"]))).await;
        let id = created.body["id"].as_str().expect("id").to_owned();
        let answers = [
            created,
            get(&app, &org.admin, &id).await,
            get(&app, &org.admin, "cq-missing").await,
            crate::confluent::list(&app, &org.admin, "environment=env-1").await,
            call(&app, Some(&org.admin), Method::DELETE, &format!("{COLLECTION}/{id}"), None).await,
        ];
        for reply in &answers {
            assert!(reply.header("x-request-id").is_some_and(|v| !v.is_empty()), "{}", reply.status);
            for name in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
                assert!(reply.header(name).is_some(), "{name} missing on {}", reply.status);
            }
        }
    }

    async fn without_valid_credentials_it_is_401_and_a_user_may_read_but_not_write(app) {
        let org = org(&app).await;
        let anonymous = call(&app, None, Method::GET, &format!("{COLLECTION}/cq-x"), None).await;
        assert_eq!(anonymous.status, 401);
        assert_eq!(anonymous.error()["code"], "user_unauthenticated");
        assert!(anonymous.header("www-authenticate").is_some_and(|v| v.starts_with("Basic")));
        assert!(anonymous.header("x-request-id").is_some());
        let wrong = call(&app, Some("Basic bm9ib2R5Om5vdGhpbmc="), Method::GET,
            &format!("{COLLECTION}/cq-x"), None).await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.header("www-authenticate").is_some_and(|v| v.contains("invalid_key")));
        let refused = call(&app, Some(&org.user), Method::POST, COLLECTION,
            Some(&quota("q", "env-1", "lkc-1", &["sa-1"]))).await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.error()["code"], "user_unauthorized");
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        assert_eq!(get(&app, &org.user, id).await.status, 200);
        let body = json!({"spec": {"display_name": "x", "environment": {"id": "env-1"}}});
        assert_eq!(patch(&app, &org.user, id, &body).await.status, 403);
        assert_eq!(call(&app, Some(&org.user), Method::DELETE, &format!("{COLLECTION}/{id}"), None).await.status, 403);
    }

    async fn an_unknown_path_or_method_answers_in_confluents_envelope(app) {
        let org = org(&app).await;
        let reply = call(&app, Some(&org.admin), Method::PUT, COLLECTION, Some(&json!({}))).await;
        assert_eq!(reply.status, 405);
        assert_eq!(reply.error()["status"], "405");
        let nowhere = app.client.get(format!("{}/service-quota/v1/nowhere", app.base))
            .header("Authorization", &org.admin).send().await.expect("get");
        assert_eq!(nowhere.status(), 404);
        assert_eq!(crate::support::body(nowhere).await["errors"][0]["status"], "404");
    }
}
