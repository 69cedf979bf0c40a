//! The engine's fast paths keep the engine's promises: a request no limit applies to is answered
//! at once yet its idempotency key still binds its body; a check reads committed usage exactly;
//! and `/metrics` shows the engine to an operator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, body};

async fn idempotent_consume(
    app: &TestApp,
    admin: &str,
    key: &str,
    request: &Value,
) -> reqwest::Response {
    app.request(Method::POST, "/v1/usage/consume", admin)
        .header("Idempotency-Key", key)
        .json(request)
        .send()
        .await
        .expect("consume")
}

on_both_backends! {
    async fn a_consume_no_limit_applies_to_is_admitted_and_its_idempotency_key_still_binds_its_body(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let request = json!({"subject": {"u": "1"}, "metric": "unlimited", "amount": 4});
        let plain = app.post("/v1/usage/consume", &admin, &request).await;
        assert_eq!(plain.status(), StatusCode::OK);
        let plain = body(plain).await;
        assert_eq!(plain["allowed"], true);
        assert_eq!(plain["limits"], json!([]));

        let first = idempotent_consume(&app, &admin, "order-1", &request).await;
        assert_eq!(first.status(), StatusCode::OK);
        let replay = idempotent_consume(&app, &admin, "order-1", &request).await;
        assert_eq!(replay.status(), StatusCode::OK);
        let other = json!({"subject": {"u": "1"}, "metric": "unlimited", "amount": 5});
        let reused = idempotent_consume(&app, &admin, "order-1", &other).await;
        assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY, "a key names one request, limits or not");
    }

    async fn a_check_reads_what_consumes_committed_and_refuses_what_would_pass_the_limit(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let limit = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 5, "window": {"kind": "none"}});
        assert!(app.put("/v1/limits/seats", &admin, &limit).await.status().is_success());
        let consume = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 3});
        assert_eq!(app.post("/v1/usage/consume", &admin, &consume).await.status(), StatusCode::OK);

        let fits = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 2});
        let checked = app.post("/v1/usage/check", &admin, &fits).await;
        assert_eq!(checked.status(), StatusCode::OK);
        let checked = body(checked).await;
        assert_eq!(checked["limits"][0]["used"], 3, "{checked}");
        assert_eq!(checked["limits"][0]["remaining"], 2, "{checked}");

        let too_much = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 3});
        assert_eq!(app.post("/v1/usage/check", &admin, &too_much).await.status(), StatusCode::TOO_MANY_REQUESTS);
        let consumed = app.post("/v1/usage/consume", &admin, &fits).await;
        assert_eq!(consumed.status(), StatusCode::OK, "checks changed nothing");
        assert_eq!(app.post("/v1/usage/check", &admin, &json!({"subject": {"team": "t"}, "metric": "seats", "amount": 1})).await.status(),
            StatusCode::TOO_MANY_REQUESTS, "the check sees the last consume at once");
    }

    async fn a_check_of_a_counter_never_written_reads_zero_and_makes_no_row(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let limit = json!({"subject": {}, "metric": "calls", "amount": 2, "window": {"kind": "none"}, "per": ["user"]});
        assert!(app.put("/v1/limits/calls", &admin, &limit).await.status().is_success());
        let check = json!({"subject": {"user": "new"}, "metric": "calls", "amount": 2});
        let checked = body(app.post("/v1/usage/check", &admin, &check).await).await;
        assert_eq!(checked["allowed"], true, "{checked}");
        assert_eq!(checked["limits"][0]["used"], 0, "{checked}");
        let over = json!({"subject": {"user": "new"}, "metric": "calls", "amount": 3});
        assert_eq!(app.post("/v1/usage/check", &admin, &over).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn a_tenant_checking_another_tenants_metric_meets_none_of_its_limits(app) {
        let (_, owner) = app.tenant_with_admin().await;
        let (_, stranger) = app.tenant_with_admin().await;
        let limit = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 1, "window": {"kind": "none"}});
        assert!(app.put("/v1/limits/seats", &owner, &limit).await.status().is_success());
        let check = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 5});
        let theirs = body(app.post("/v1/usage/check", &stranger, &check).await).await;
        assert_eq!(theirs["allowed"], true);
        assert_eq!(theirs["limits"], json!([]));
        assert_eq!(app.post("/v1/usage/check", &owner, &check).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn metrics_show_the_engines_batches_queue_decisions_and_cache(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let limit = json!({"subject": {"team": "t"}, "metric": "seats", "amount": 5, "window": {"kind": "none"}});
        assert!(app.put("/v1/limits/seats", &admin, &limit).await.status().is_success());
        for (path, metric) in [("/v1/usage/consume", "seats"), ("/v1/usage/check", "seats"), ("/v1/usage/consume", "nothing")] {
            let request = json!({"subject": {"team": "t"}, "metric": metric, "amount": 1});
            assert_eq!(app.post(path, &admin, &request).await.status(), StatusCode::OK);
        }
        let text = app.client.get(format!("{}/metrics", app.base)).send().await.expect("metrics")
            .text().await.expect("text");
        for name in [
            "quotaplane_engine_batch_size_count",
            "quotaplane_engine_batch_duration_seconds_count",
            "quotaplane_engine_queue_depth",
            "quotaplane_engine_decisions_total{operation=\"consume\",outcome=\"admitted\",path=\"batch\"}",
            "quotaplane_engine_decisions_total{operation=\"check\",outcome=\"admitted\",path=\"read\"}",
            "quotaplane_engine_decisions_total{operation=\"consume\",outcome=\"admitted\",path=\"direct\"}",
            "quotaplane_engine_limit_cache_metrics",
            "quotaplane_engine_limit_cache_limits",
            "quotaplane_engine_limit_cache_evictions_total",
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    }

    async fn consumes_routed_to_different_batchers_never_pass_the_counter_they_share(app) {
        let (_, admin) = app.tenant_with_admin().await;
        // Each job's first counter is its user's (ids sort before "z-org"), so jobs spread over
        // the batchers, and every one of them also needs the one shared counter.
        for i in 0..16 {
            let own = json!({"subject": {"user": format!("u{i}")}, "metric": "calls", "amount": 1000, "window": {"kind": "none"}});
            assert!(app.put(&format!("/v1/limits/a-u{i}"), &admin, &own).await.status().is_success());
        }
        let shared = json!({"subject": {"org": "o"}, "metric": "calls", "amount": 300, "window": {"kind": "none"}});
        assert!(app.put("/v1/limits/z-org", &admin, &shared).await.status().is_success());

        let admitted = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let (admitted, next, client) = (admitted.clone(), next.clone(), app.client.clone());
                let (url, key) = (format!("{}/v1/usage/consume", app.base), admin.clone());
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= 1200 {
                            break;
                        }
                        let request = json!({"subject": {"org": "o", "user": format!("u{}", n % 16)}, "metric": "calls", "amount": 1});
                        let response = client.post(&url).bearer_auth(&key).json(&request).send().await.expect("consume");
                        match response.status() {
                            StatusCode::OK => {
                                admitted.fetch_add(1, Ordering::SeqCst);
                            }
                            StatusCode::TOO_MANY_REQUESTS => {}
                            other => panic!("unexpected {other}"),
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 300);
        let org = body(app.get("/v1/limits/z-org", &admin).await).await;
        assert_eq!(org["usage"]["used"], 300, "{org}");
        let mut per_user = 0;
        for i in 0..16 {
            let own = body(app.get(&format!("/v1/limits/a-u{i}"), &admin).await).await;
            per_user += own["usage"]["used"].as_i64().unwrap_or(-1);
        }
        assert_eq!(per_user, 300, "all or nothing: every admitted consume counted on both limits");
    }
}

on_both_backends! {
    async fn the_store_finds_by_index_every_limit_that_may_select_a_subject_as_its_selector_changes(app) {
        use quotaplane::domain::limit::Subject;
        use quotaplane::domain::ports::LimitStore;
        let (tenant, admin) = app.tenant_with_admin().await;
        let limits: [(&str, Value); 6] = [
            ("everyone", json!({})),
            ("u1-in-t", json!({"team": "t", "user": "u1"})),
            ("u1-in-s", json!({"team": "s", "user": "u1"})),
            ("u11", json!({"user": "u11"})),
            ("u-1", json!({"user": "u_1"})),
            ("pct", json!({"user": "u%"})),
        ];
        for (id, subject) in limits {
            let limit = json!({"subject": subject, "metric": "m", "amount": 5,
                "window": {"kind": "minute"}});
            let put = app.put(&format!("/v1/limits/{id}"), &admin, &limit).await;
            assert!(put.status().is_success(), "put {id}: {}", put.status());
        }
        let store = quotaplane::store::AnyStore::connect(&app.database_url)
            .await
            .expect("store");
        let tenant = tenant.parse().expect("tenant id");
        let ids = |found: Vec<quotaplane::domain::limit::Limit>| -> Vec<String> {
            found.into_iter().map(|l| l.id).collect()
        };

        let found = store
            .limits_selecting(tenant, "m", &Subject::of([("team", "t"), ("user", "u1")]))
            .await
            .expect("selecting");
        let odd = store
            .limits_selecting(tenant, "m", &Subject::of([("user", "u_1")]))
            .await
            .expect("selecting");

        // Candidates: a superset of those that select the subject (the caller checks each).
        assert_eq!(ids(found), ["everyone", "u1-in-s", "u1-in-t"]);
        assert_eq!(ids(odd), ["everyone", "u-1"], "wildcards in values match only themselves");

        // A limit's new selector is found by its new pairs only; a deleted limit is not found.
        let moved = json!({"subject": {"user": "u1"}, "metric": "m", "amount": 5, "window": {"kind": "minute"}});
        assert_eq!(app.put("/v1/limits/u11", &admin, &moved).await.status(), 200);
        assert_eq!(app.delete("/v1/limits/u1-in-s", &admin).await.status(), 204);
        let found = store
            .limits_selecting(tenant, "m", &Subject::of([("team", "t"), ("user", "u1")]))
            .await
            .expect("selecting");
        assert_eq!(ids(found), ["everyone", "u1-in-t", "u11"]);
        let old = store
            .limits_selecting(tenant, "m", &Subject::of([("user", "u11")]))
            .await
            .expect("selecting");
        assert_eq!(ids(old), ["everyone"]);
    }
}

on_both_backends! {
    async fn a_compound_call_no_limit_applies_to_is_admitted_without_a_lease(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let quota = json!({"resourceType": "deployment", "resourceId": "dep",
            "defaultRules": [{"rule": "token", "limit": 5}]});
        let created = app.post("/api/v2/quotas/", &admin, &quota).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let call = json!({"consumer_type": "user", "consumer_id": "bob"});

        let answered = app
            .post("/v1/datarobot/deployments/dep/calls", &admin, &call)
            .await;

        assert_eq!(answered.status(), StatusCode::OK);
        let answered = body(answered).await;
        assert_eq!(answered["allowed"], true);
        assert_eq!(answered["limits"], json!([]), "no request or concurrency rule applies");
        assert_eq!(answered["lease"], Value::Null, "no lease nobody could release");
    }
}

on_both_backends! {
    async fn an_answer_lists_at_most_100_limits_the_tightest_first_and_counts_the_rest(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for i in 0..105 {
            let limit = json!({"subject": {}, "metric": "wide", "amount": 1_000 - i,
                "window": {"kind": "minute"}});
            let put = app.put(&format!("/v1/limits/l{i:03}"), &admin, &limit).await;
            assert!(put.status().is_success(), "put l{i:03}: {}", put.status());
        }
        let usage = json!({"subject": {"user": "u"}, "metric": "wide", "amount": 1});

        let admitted = body(app.post("/v1/usage/consume", &admin, &usage).await).await;
        let refused = app
            .post("/v1/usage/consume", &admin, &json!({"subject": {}, "metric": "wide", "amount": 1_000}))
            .await;

        assert_eq!(admitted["limits"].as_array().map(Vec::len), Some(100));
        assert_eq!(admitted["limits_omitted"], 5);
        assert_eq!(admitted["limits"][0]["quota_id"], "l104", "the least room left first");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let refused = body(refused).await;
        assert_eq!(refused["limits"].as_array().map(Vec::len), Some(100));
        assert_eq!(refused["limits_omitted"], 5, "all 105 limits refuse 1,000 more");
        let few = json!({"subject": {}, "metric": "narrow", "amount": 1});
        let few = body(app.post("/v1/usage/consume", &admin, &few).await).await;
        assert!(few.get("limits_omitted").is_none(), "absent when nothing is left out");
    }
}
