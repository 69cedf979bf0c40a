//! Confluent's documented service quota codes ("Service Quotas for Confluent Cloud") are in the
//! catalogue from the start: read at their defaults, with usage once a service reports it.

use reqwest::Method;
use serde_json::json;

use super::{call, org};
use crate::on_both_backends;

const APPLIED: &str = "/service-quota/v1/applied-quotas";

on_both_backends! {
    async fn confluents_documented_codes_answer_at_their_defaults_and_take_reported_usage(app) {
        let org = org(&app).await;
        let path = format!("{APPLIED}/iam.max_environments.per_org?scope=ORGANIZATION");
        let environments = call(&app, Some(&org.user), Method::GET, &path, None).await;
        assert_eq!(environments.status, 200, "{}", environments.body);
        assert_eq!(environments.body["scope"], "ORGANIZATION");
        assert_eq!((environments.body["default_limit"].clone(), environments.body["applied_limit"].clone()),
            (json!(25), json!(25)));
        assert!(environments.body.get("usage").is_none(), "nothing reported yet");
        let reported = app.client.post(format!("{}/v1/usage/report", app.base)).header("Authorization", &org.admin)
            .json(&json!({"subject": {}, "metric": "iam.max_environments.per_org", "value": 4}))
            .send().await.expect("report");
        assert_eq!(reported.status(), 200);
        let now = call(&app, Some(&org.user), Method::GET, &path, None).await;
        assert_eq!(now.body["usage"], 4);
        let per_env = call(&app, Some(&org.user), Method::GET,
            &format!("{APPLIED}/kafka.max_kafka_clusters.per_env?environment=env-1"), None).await;
        assert_eq!((per_env.status, per_env.body["applied_limit"].clone()), (200, json!(20)), "{}", per_env.body);
        let listed = call(&app, Some(&org.user), Method::GET, &format!("{APPLIED}?scope=organization&id=iam.max_environments.per_org"), None).await;
        assert_eq!(listed.body["data"][0]["usage"], 4);
    }
}
