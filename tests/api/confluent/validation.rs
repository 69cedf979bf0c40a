//! Every validation rule: 400 for malformed JSON and bad query parameters (`source.parameter`),
//! 422 for bodies that parse but break a rule (`source.pointer`); unknown properties ignored.

use reqwest::Method;
use serde_json::{Value, json};

use super::{COLLECTION, Reply, call, call_raw, create, list, org, patch, quota};
use crate::on_both_backends;

fn assert_invalid(reply: &Reply, pointer: &str) {
    assert_eq!(reply.status, 422, "{pointer}: {}", reply.body);
    let error = reply.error();
    assert_eq!(error["status"], "422");
    assert_eq!(error["code"], "invalid_configuration");
    assert_eq!(error["source"]["pointer"], pointer, "{}", reply.body);
}

fn assert_bad_parameter(reply: &Reply, parameter: &str) {
    assert_eq!(reply.status, 400, "{parameter}: {}", reply.body);
    assert_eq!(reply.error()["status"], "400");
    assert_eq!(
        reply.error()["source"]["parameter"],
        parameter,
        "{}",
        reply.body
    );
}

/// A valid create body with `edit` applied to its spec.
fn with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut body = quota("q", "env-1", "lkc-1", &["sa-1"]);
    if let Some(spec) = body["spec"].as_object_mut() {
        edit(spec);
    }
    body
}

on_both_backends! {
    async fn malformed_json_is_400(app) {
        let org = org(&app).await;
        let reply = call_raw(&app, &org.admin, Method::POST, COLLECTION, "{\"spec\": {").await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.error()["status"], "400");
        assert_eq!(reply.error()["code"], "malformed_request");
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let path = format!("{COLLECTION}/{}", created["id"].as_str().expect("id"));
        assert_eq!(call_raw(&app, &org.admin, Method::PATCH, &path, "[1,").await.status, 400);
    }

    async fn a_create_names_each_missing_or_invalid_field(app) {
        let org = org(&app).await;
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "/spec"),
            (with(|s| { s.remove("display_name"); }), "/spec/display_name"),
            (with(|s| { s.insert("display_name".into(), json!("")); }), "/spec/display_name"),
            (with(|s| { s.insert("display_name".into(), json!(7)); }), "/spec/display_name"),
            (with(|s| { s.remove("throughput"); }), "/spec/throughput"),
            (with(|s| { s.remove("principals"); }), "/spec/principals"),
            (with(|s| { s.insert("principals".into(), json!([])); }), "/spec/principals"),
            (with(|s| { s.insert("principals".into(), json!([{"id": ""}])); }), "/spec/principals/0/id"),
            (with(|s| { s.insert("principals".into(), json!([{"id": "a"}, {"related": "x"}])); }), "/spec/principals/1/id"),
            (with(|s| { s.insert("principals".into(), json!([{"id": "a"}, {"id": "a"}])); }), "/spec/principals/1/id"),
            (with(|s| { s.remove("cluster"); }), "/spec/cluster"),
            (with(|s| { s.insert("cluster".into(), json!({})); }), "/spec/cluster/id"),
            (with(|s| { s.insert("cluster".into(), json!({"id": ""})); }), "/spec/cluster/id"),
            (with(|s| { s.remove("environment"); }), "/spec/environment"),
            (with(|s| { s.insert("environment".into(), json!({"id": ""})); }), "/spec/environment/id"),
        ];
        for (body, pointer) in cases {
            let reply = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&body)).await;
            assert_invalid(&reply, pointer);
        }
    }

    async fn throughput_must_be_decimal_int64_strings_of_zero_or_more(app) {
        let org = org(&app).await;
        for bad in [json!("-1"), json!("1.5"), json!("1e3"), json!("abc"), json!(""), json!(" 5"),
                    json!("9223372036854775808"), json!(5), json!(null)] {
            for field in ["ingress_byte_rate", "egress_byte_rate"] {
                let body = with(|s| { s["throughput"][field] = bad.clone(); });
                let reply = call(&app, Some(&org.admin), Method::POST, COLLECTION, Some(&body)).await;
                assert_invalid(&reply, &format!("/spec/throughput/{field}"));
            }
        }
        let body = with(|s| { s.insert("throughput".into(),
            json!({"ingress_byte_rate": "0", "egress_byte_rate": "9223372036854775807"})); });
        let created = create(&app, &org, &body).await;
        assert_eq!(created["spec"]["throughput"]["egress_byte_rate"], "9223372036854775807");
    }

    async fn unknown_and_read_only_properties_are_ignored(app) {
        let org = org(&app).await;
        let body = json!({"api_version": "v9", "kind": "Nonsense", "id": "cq-mine", "colour": "blue",
            "metadata": {"self": "http://elsewhere"},
            "spec": {"display_name": "q", "flavour": 1,
                "throughput": {"ingress_byte_rate": "1", "egress_byte_rate": "2", "burst": "9"},
                "cluster": {"id": "lkc-1", "environment": "string", "related": "x"},
                "environment": [{"id": "env-1"}],
                "principals": [{"id": "sa-1", "resource_name": "y"}]}});
        let created = create(&app, &org, &body).await;
        assert_ne!(created["id"], "cq-mine");
        assert_eq!(created["kind"], "ClientQuota");
        assert_eq!(created["spec"]["environment"]["id"], "env-1");
        assert_eq!(created["spec"]["cluster"]["environment"], "env-1");
        assert!(created.get("colour").is_none());
        // An update echoing the read-only fields back, with one change.
        let id = created["id"].as_str().expect("id");
        let mut echoed = created.clone();
        echoed["spec"]["display_name"] = json!("renamed");
        echoed["spec"]["flavour"] = json!(1);
        let updated = patch(&app, &org.admin, id, &echoed).await;
        assert_eq!(updated.status, 200, "{}", updated.body);
        assert_eq!(updated.body["spec"]["display_name"], "renamed");
    }

    async fn an_update_is_checked_like_a_create(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = created["id"].as_str().expect("id");
        let env = json!({"id": "env-1"});
        let cases = [
            (json!({}), "/spec"),
            (json!({"spec": {"environment": {"id": "env-2"}, "display_name": "x"}}), "/spec/environment/id"),
            (json!({"spec": {"cluster": {"id": "lkc-2"}}}), "/spec/cluster/id"),
            (json!({"id": "cq-other", "spec": {"display_name": "x"}}), "/id"),
            (json!({"spec": {"display_name": ""}}), "/spec/display_name"),
            (json!({"spec": {"environment": env, "display_name": ""}}), "/spec/display_name"),
            (json!({"spec": {"environment": env, "principals": []}}), "/spec/principals"),
            (json!({"spec": {"environment": env, "throughput": {"ingress_byte_rate": "1"}}}),
                "/spec/throughput/egress_byte_rate"),
            (json!({"spec": {"environment": env, "throughput": {"ingress_byte_rate": "-5", "egress_byte_rate": "1"}}}),
                "/spec/throughput/ingress_byte_rate"),
        ];
        for (body, pointer) in cases {
            assert_invalid(&patch(&app, &org.admin, id, &body).await, pointer);
        }
        let missing = patch(&app, &org.admin, "cq-nothere", &json!({"spec": {"environment": env}})).await;
        assert_eq!(missing.status, 404);
        let untouched = crate::confluent::get(&app, &org.admin, id).await;
        assert_eq!(untouched.body["spec"]["display_name"], "q", "no refused update changed anything");
    }

    async fn the_list_needs_both_filters_and_a_sane_page(app) {
        let org = org(&app).await;
        assert_bad_parameter(&list(&app, &org.admin, "environment=env-1").await, "spec.cluster");
        assert_bad_parameter(&list(&app, &org.admin, "spec.cluster=lkc-1").await, "environment");
        assert_bad_parameter(&list(&app, &org.admin, "spec.cluster=&environment=env-1").await, "spec.cluster");
        let missing = list(&app, &org.admin, "").await;
        assert_eq!(missing.status, 400);
        assert_eq!(missing.error()["code"], "invalid_filter");
        let filters = "spec.cluster=lkc-1&environment=env-1";
        for bad in ["0", "101", "-1", "ten", "1.5"] {
            assert_bad_parameter(&list(&app, &org.admin, &format!("{filters}&page_size={bad}")).await, "page_size");
        }
        for bad in ["nonsense", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &"x".repeat(300)] {
            assert_bad_parameter(&list(&app, &org.admin, &format!("{filters}&page_token={bad}")).await, "page_token");
        }
        assert_eq!(list(&app, &org.admin, &format!("{filters}&page_size=100&unknown=1")).await.status, 200);
    }
}
