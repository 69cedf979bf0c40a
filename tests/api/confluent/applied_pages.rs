//! The applied-quota list read from the store a page at a time: following `metadata.next` gives
//! every applied quota once, in the order of one big page, and `total_size` counts them all.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Reply, call, org};
use crate::on_both_backends;
use crate::support::{TestApp, body};

const APPLIED: &str = "/service-quota/v1/applied-quotas";
const KAFKA: &str = "kafka.max_client_quotas.per_cluster";

async fn read(app: &TestApp, auth: &str, path: &str) -> Reply {
    call(app, Some(auth), Method::GET, path, None).await
}

on_both_backends! {
    async fn cluster_quotas_page_through_the_store_each_once_in_the_order_of_one_page(app) {
        let org = org(&app).await;
        for cluster in ["lkc-5", "lkc-1", "lkc-4", "lkc-2", "lkc-3"] {
            let request = json!({"scope": "KAFKA_CLUSTER", "environment": "env-1",
                "kafka_cluster": cluster, "applied_limit": 3});
            let answer = app.client.put(format!("{}/v1/applied-quotas/{KAFKA}", app.base))
                .header("Authorization", &org.admin).json(&request).send().await.expect("PUT");
            assert_eq!(answer.status(), 200, "{}", body(answer).await);
        }
        let whole = read(&app, &org.user, &format!("{APPLIED}?scope=KAFKA_CLUSTER&page_size=200")).await;
        assert_eq!(whole.status, 200, "{}", whole.body);
        let everything: Vec<Value> = whole.body["data"].as_array().expect("data").clone();
        assert!(everything.len() >= 5, "{}", whole.body);
        assert_eq!(whole.body["metadata"]["total_size"], everything.len());

        let mut walked: Vec<Value> = Vec::new();
        let mut reply = read(&app, &org.user, &format!("{APPLIED}?scope=KAFKA_CLUSTER&page_size=2")).await;
        loop {
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(reply.body["metadata"]["total_size"], everything.len());
            let page = reply.body["data"].as_array().expect("data");
            assert!(page.len() <= 2);
            walked.extend(page.iter().cloned());
            let Some(next) = reply.body["metadata"]["next"].as_str().map(str::to_owned) else { break };
            assert!(walked.len() <= everything.len(), "the pages never end");
            reply = read(&app, &org.user, next.trim_start_matches(&app.base)).await;
        }
        assert_eq!(walked, everything);
        // A filter naming one cluster completely lists it, at its default, beside nothing else.
        let named = read(&app, &org.user, &format!(
            "{APPLIED}?scope=KAFKA_CLUSTER&environment=env-1&kafka_cluster=lkc-9&page_size=1")).await;
        assert_eq!(named.status, 200, "{}", named.body);
        let total = named.body["metadata"]["total_size"].as_i64().expect("total");
        assert!(total >= 1);
        assert!(named.body["data"].as_array().expect("data").iter()
            .all(|q| q.to_string().contains("lkc-9")), "{}", named.body);
    }
}
