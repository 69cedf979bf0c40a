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
