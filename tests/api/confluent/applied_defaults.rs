//! Applied quotas' defaults as limits: each code has one default limit per tenant, split `per`
//! its scope's references, so a reference counts on its own partition with nothing written for
//! it; a reference's own limit replaces the default for it (its count carried along); a changed
//! default applies at once to every reference without its own; and what earlier versions wrote
//! (a limit per reference, made on first use) is moved at start-up.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Org, call, org};
use crate::support::execute_sql;
use crate::support::{TestApp, body};
use crate::{on_both_backends, on_both_databases};
use quotaplane::app::Settings;
use quotaplane::domain::service_quota::{ScopeRef, limit_id};

const CODE: &str = "svc.max_topics.per_cluster";
const DEFAULT_ID: &str = "service-quota.svc.max_topics.per_cluster";

/// Defines (or redefines) the cluster-scoped code at `default_limit`.
async fn define(app: &TestApp, default_limit: i64) {
    let request = json!({"scope": "KAFKA_CLUSTER", "display_name": "Topics Per Cluster",
        "default_limit": default_limit});
    let response = app
        .client
        .put(format!("{}/v1/service-quota-codes/{CODE}", app.base))
        .bearer_auth(&app.system)
        .json(&request)
        .send()
        .await
        .expect("PUT code");
    assert!(response.status().is_success(), "{}", body(response).await);
}

/// Consumes `amount` topics of cluster `cluster` in `env-1`: the status.
async fn consume(app: &TestApp, org: &Org, cluster: &str, amount: i64) -> u16 {
    let request = json!({"subject": {"environment": "env-1", "kafka_cluster": cluster},
        "metric": CODE, "amount": amount});
    let response = app
        .client
        .post(format!("{}/v1/usage/consume", app.base))
        .header("Authorization", &org.admin)
        .json(&request)
        .send()
        .await
        .expect("consume");
    response.status().as_u16()
}

/// The operator sets cluster `cluster`'s applied limit.
async fn adjust(app: &TestApp, org: &Org, cluster: &str, applied_limit: i64) {
    let request = json!({"organization": org.tenant, "scope": "KAFKA_CLUSTER",
        "environment": "env-1", "kafka_cluster": cluster, "applied_limit": applied_limit});
    let response = app
        .client
        .put(format!("{}/v1/applied-quotas/{CODE}", app.base))
        .bearer_auth(&app.system)
        .json(&request)
        .send()
        .await
        .expect("adjust");
    assert_eq!(response.status(), 200, "{}", body(response).await);
}

/// Cluster `cluster`'s applied quota: (applied limit, usage).
async fn applied(app: &TestApp, org: &Org, cluster: &str) -> (Value, Value) {
    let path = format!(
        "/service-quota/v1/applied-quotas/{CODE}?environment=env-1&kafka_cluster={cluster}"
    );
    let reply = call(app, Some(&org.user), Method::GET, &path, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        reply.body["applied_limit"].clone(),
        reply.body["usage"].clone(),
    )
}

/// The ids of the tenant's limits of the code.
async fn limits_of_code(app: &TestApp, org: &Org) -> Vec<String> {
    let response = app
        .client
        .get(format!("{}/v1/limits?metric={CODE}", app.base))
        .header("Authorization", &org.admin)
        .send()
        .await
        .expect("limits");
    assert_eq!(response.status(), 200);
    let listed = body(response).await;
    let items = listed
        .as_array()
        .or_else(|| listed["items"].as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter(|l| l["metric"] == CODE)
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

on_both_backends! {
    async fn references_count_on_their_own_partition_of_one_default_with_nothing_written_for_them(app) {
        let org = org(&app).await;
        define(&app, 2).await;
        for (cluster, amount) in [("lkc-1", 2), ("lkc-2", 1), ("lkc-3", 2)] {
            assert_eq!(consume(&app, &org, cluster, amount).await, 200, "{cluster}");
        }
        assert_eq!(consume(&app, &org, "lkc-1", 1).await, 429, "each reference has the whole default");
        assert_eq!(consume(&app, &org, "lkc-2", 1).await, 200);
        assert_eq!(limits_of_code(&app, &org).await, vec![DEFAULT_ID.to_owned()], "one limit, however many clusters");
        assert_eq!(applied(&app, &org, "lkc-2").await, (json!(2), json!(2)));
        assert_eq!(applied(&app, &org, "lkc-9").await.0, json!(2), "an unused reference reads the default");
        let list = call(&app, Some(&org.user), Method::GET,
            &format!("/service-quota/v1/applied-quotas?scope=KAFKA_CLUSTER&id={CODE}&page_size=2"), None).await;
        assert_eq!(list.body["metadata"]["total_size"], 3, "{}", list.body);
        let clusters: Vec<&str> = list.body["data"].as_array().expect("data").iter()
            .filter_map(|q| q["kafka_cluster"]["id"].as_str()).collect();
        assert_eq!(clusters, vec!["lkc-1", "lkc-2"]);
        let next = list.body["metadata"]["next"].as_str().expect("next").trim_start_matches(&app.base).to_owned();
        let rest = call(&app, Some(&org.user), Method::GET, &next, None).await;
        assert_eq!(rest.body["data"][0]["kafka_cluster"]["id"], "lkc-3");
        assert_eq!(rest.body["data"][0]["usage"], 2);
    }

    async fn a_changed_default_applies_at_once_to_every_reference_without_its_own_limit(app) {
        let org = org(&app).await;
        define(&app, 2).await;
        assert_eq!(consume(&app, &org, "lkc-1", 1).await, 200);
        assert_eq!(consume(&app, &org, "lkc-2", 1).await, 200);
        adjust(&app, &org, "lkc-2", 3).await;
        assert_eq!(applied(&app, &org, "lkc-2").await, (json!(3), json!(1)), "its count came along");
        define(&app, 1).await;
        assert_eq!(applied(&app, &org, "lkc-1").await, (json!(1), json!(1)));
        assert_eq!(consume(&app, &org, "lkc-1", 1).await, 429, "the new default, with no write for lkc-1");
        assert_eq!(consume(&app, &org, "lkc-7", 1).await, 200);
        assert_eq!(consume(&app, &org, "lkc-7", 1).await, 429);
        assert_eq!(consume(&app, &org, "lkc-2", 2).await, 200, "its own limit, not the default");
        assert_eq!(consume(&app, &org, "lkc-2", 1).await, 429);
        let mut ids = limits_of_code(&app, &org).await;
        ids.sort();
        let own = limit_id(CODE, &ScopeRef::kafka_cluster("env-1", "lkc-2"));
        assert_eq!(ids, vec![DEFAULT_ID.to_owned(), own]);
    }
}

/// Makes cluster `cluster`'s limit as earlier versions did (its own, no family, at `amount`),
/// with the count it has on the default.
async fn write_as_before(url: &str, cluster: &str, amount: i64) {
    let id = limit_id(CODE, &ScopeRef::kafka_cluster("env-1", cluster));
    let selector = format!(r#"{{"environment":"env-1","kafka_cluster":"{cluster}"}}"#);
    let partition = format!(r#"'["env-1","{cluster}"]'"#);
    execute_sql(
        url,
        &format!(
            "INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, blocking, \
         owner, created_at, updated_at, per, family, expires_at, shadow) \
         SELECT l.tenant_id, '{id}', '{selector}', l.metric, {amount}, l.window_spec, l.blocking, \
         l.owner, l.created_at, l.updated_at, '[]', NULL, l.expires_at, l.shadow \
         FROM limits l JOIN counters c ON c.tenant_id = l.tenant_id AND c.limit_id = l.id \
         WHERE l.id = '{DEFAULT_ID}' AND c.per_value = {partition}"
        ),
    )
    .await;
    execute_sql(
        url,
        &format!(
            "UPDATE counters SET limit_id = '{id}', per_value = '' WHERE limit_id = '{DEFAULT_ID}' \
         AND per_value = {partition}"
        ),
    )
    .await;
}

on_both_databases! {
    /// Earlier versions made a limit per scope reference on first use, with no family: a restart
    /// moves one never adjusted to the default (its count with it) and keeps an adjusted one as the
    /// reference's own limit, in the code's family.
    async fn limits_per_reference_written_before_defaults_were_limits_are_moved_at_start_up(url: &str) {
        let first = TestApp::start(url, Settings::default()).await;
        let org = org(&first).await;
        define(&first, 5).await;
        assert_eq!(consume(&first, &org, "lkc-1", 2).await, 200);
        assert_eq!(consume(&first, &org, "lkc-2", 1).await, 200);
        drop(first);
        write_as_before(url, "lkc-1", 5).await;
        write_as_before(url, "lkc-2", 3).await;
        // Organization-wide limits selected the organization and had no family.
        execute_sql(
            url,
            &format!(
                "UPDATE limits SET selector = '{{\"organization\":\"{}\"}}', family = NULL \
             WHERE id = 'service-quota.iam.max_api_keys.per_org'",
                org.tenant
            ),
        )
        .await;

        let second = TestApp::start(url, Settings::default()).await;
        let mut ids = limits_of_code(&second, &org).await;
        ids.sort();
        let kept = limit_id(CODE, &ScopeRef::kafka_cluster("env-1", "lkc-2"));
        assert_eq!(
            ids,
            vec![DEFAULT_ID.to_owned(), kept],
            "the unadjusted one went"
        );
        assert_eq!(applied(&second, &org, "lkc-1").await, (json!(5), json!(2)));
        assert_eq!(applied(&second, &org, "lkc-2").await, (json!(3), json!(1)));
        assert_eq!(consume(&second, &org, "lkc-1", 3).await, 200);
        assert_eq!(consume(&second, &org, "lkc-1", 1).await, 429);
        assert_eq!(consume(&second, &org, "lkc-2", 2).await, 200);
        assert_eq!(consume(&second, &org, "lkc-2", 1).await, 429);
        let keys = second
            .client
            .get(format!(
                "{}/v1/limits/service-quota.iam.max_api_keys.per_org",
                second.base
            ))
            .header("Authorization", &org.admin)
            .send()
            .await
            .expect("GET");
        let keys = body(keys).await;
        assert_eq!(
            (keys["subject"].clone(), keys["family"].clone()),
            (json!({}), json!("service-quota.iam.max_api_keys.per_org")),
            "{keys}"
        );
        let path = "/service-quota/v1/applied-quotas/iam.max_api_keys.per_org";
        let reply = call(&second, Some(&org.user), Method::GET, path, None).await;
        assert_eq!(
            reply.body["usage"], 2,
            "the admin and the user key: {}",
            reply.body
        );
    }
}
