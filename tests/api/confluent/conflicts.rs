//! A principal, `<default>` included, has at most one client quota per cluster: a second is a 409
//! whose `Location` names the client quota it conflicts with.

use reqwest::Method;
use serde_json::json;

use super::{COLLECTION, call, create, org, patch, quota};
use crate::on_both_backends;

on_both_backends! {
    async fn a_second_quota_for_a_principal_on_a_cluster_is_409_naming_the_first(app) {
        let org = org(&app).await;
        let first = create(&app, &org, &quota("first", "env-1", "lkc-1", &["sa-1", "sa-2"])).await;
        let first_id = first["id"].as_str().expect("id");
        let second = call(&app, Some(&org.admin), Method::POST, COLLECTION,
            Some(&quota("second", "env-1", "lkc-1", &["sa-3", "sa-2"]))).await;
        assert_eq!(second.status, 409, "{}", second.body);
        assert_eq!(second.error()["status"], "409");
        assert_eq!(second.error()["code"], "resource_already_exists");
        assert_eq!(second.header("location"), Some(format!("{}{COLLECTION}/{first_id}", app.base)));
        assert!(second.header("x-request-id").is_some());
        // Nothing of the refused quota was kept: sa-3 is still free.
        create(&app, &org, &quota("third", "env-1", "lkc-1", &["sa-3"])).await;
        // Another cluster, or the same cluster id in another environment, is another matter.
        create(&app, &org, &quota("elsewhere", "env-1", "lkc-2", &["sa-1"])).await;
        create(&app, &org, &quota("other env", "env-2", "lkc-1", &["sa-1"])).await;
    }

    async fn the_default_principal_has_one_quota_per_cluster_too(app) {
        let org = org(&app).await;
        let default = create(&app, &org, &quota("everyone", "env-1", "lkc-1", &["<default>"])).await;
        let again = call(&app, Some(&org.admin), Method::POST, COLLECTION,
            Some(&quota("everyone again", "env-1", "lkc-1", &["sa-1", "<default>"]))).await;
        assert_eq!(again.status, 409);
        assert_eq!(again.header("location"),
            Some(format!("{}{COLLECTION}/{}", app.base, default["id"].as_str().expect("id"))));
        // The default does not stop a principal from having its own.
        create(&app, &org, &quota("sa-1", "env-1", "lkc-1", &["sa-1"])).await;
    }

    async fn an_update_that_would_give_a_principal_a_second_quota_is_409(app) {
        let org = org(&app).await;
        let holder = create(&app, &org, &quota("holder", "env-1", "lkc-1", &["<default>"])).await;
        let other = create(&app, &org, &quota("other", "env-1", "lkc-1", &["sa-1"])).await;
        let other_id = other["id"].as_str().expect("id");
        let grab = patch(&app, &org.admin, other_id, &json!({"spec": {
            "environment": {"id": "env-1"}, "principals": [{"id": "sa-1"}, {"id": "<default>"}]}})).await;
        assert_eq!(grab.status, 409);
        assert_eq!(grab.header("location"),
            Some(format!("{}{COLLECTION}/{}", app.base, holder["id"].as_str().expect("id"))));
        let unchanged = crate::confluent::get(&app, &org.admin, other_id).await;
        assert_eq!(unchanged.body["spec"]["principals"], other["spec"]["principals"]);
        // Keeping its own principals, or swapping them for free ones, is no conflict.
        let keep = patch(&app, &org.admin, other_id, &json!({"spec": {
            "environment": {"id": "env-1"}, "principals": [{"id": "sa-1"}, {"id": "sa-4"}]}})).await;
        assert_eq!(keep.status, 200);
        // Once the holder is gone, the default is free.
        let path = format!("{COLLECTION}/{}", holder["id"].as_str().expect("id"));
        assert_eq!(call(&app, Some(&org.admin), Method::DELETE, &path, None).await.status, 204);
        let grab = patch(&app, &org.admin, other_id, &json!({"spec": {
            "environment": {"id": "env-1"}, "principals": [{"id": "<default>"}]}})).await;
        assert_eq!(grab.status, 200);
    }
}

on_both_backends! {
    async fn concurrent_creates_for_one_principal_leave_exactly_one_quota(app) {
        let org = org(&app).await;
        let app = std::sync::Arc::new(app);
        let org = std::sync::Arc::new(org);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (app, org) = (app.clone(), org.clone());
            tasks.push(tokio::spawn(async move {
                let body = quota(&format!("racer {i}"), "env-1", "lkc-1", &[&format!("sa-own-{i}"), "sa-shared"]);
                call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&body)).await.status
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.expect("task"));
        }
        statuses.sort_unstable();
        assert_eq!(statuses, vec![202, 409, 409, 409, 409, 409, 409, 409]);
        let listed = crate::confluent::list(&app, &org.admin, "spec.cluster=lkc-1&environment=env-1").await;
        assert_eq!(listed.body["metadata"]["total_size"], 1);
        let limits = crate::confluent::client_quota_limits(&app, &org.admin).await;
        assert_eq!(limits.len(), 4, "only the winner's limits: {limits:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_past_its_rate_limit_gets_429_in_confluents_envelope() {
    let settings = quotaplane::app::Settings {
        rate_limit_requests: 3,
        ..Default::default()
    };
    let app = crate::support::TestApp::spawn_with(crate::support::Backend::Sqlite, settings)
        .await
        .expect("sqlite");
    let org = org(&app).await;
    let path = format!("{COLLECTION}/cq-none");
    let mut last = None;
    for _ in 0..4 {
        last = Some(call(&app, Some(&org.admin), Method::GET, &path, None).await);
    }
    let refused = last.expect("four calls");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error()["status"], "429");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(
        refused.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
}
