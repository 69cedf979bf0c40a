//! The requests Confluent's own tools build, replayed byte for byte (read from their public
//! source): the Terraform provider's create and update (`resource_kafka_client_quota.go`; an
//! update has only the changed fields, no environment), the CLI's `confluent kafka quota update` (`command_quota_update.go`:
//! the quota's id and the whole spec it read back, without environment or cluster) and the CLI's
//! list loop (`pkg/ccloudv2/kafka_quotas.go`: `page_size=100` on every call, the `page_token`
//! taken from `metadata.next` until it is absent). Go's `encoding/json` writes map keys sorted,
//! and the SDK's references always carry `related` and `resource_name`, empty when unset.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};

use super::{COLLECTION, call_raw, create, get, list, org, quota};
use crate::on_both_backends;

fn path(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

fn id_of(quota: &Value) -> String {
    quota["id"].as_str().expect("id").to_owned()
}

on_both_backends! {
    async fn the_terraform_providers_create_and_update_bodies_are_accepted(app) {
        let org = org(&app).await;
        // `terraform apply` of a new `confluent_kafka_client_quota` without a description.
        let create_body = concat!(r#"{"spec":{"cluster":{"id":"lkc-1","related":"","resource_name":""},"#,
            r#""description":"","display_name":"q","environment":{"id":"env-1","related":"","resource_name":""},"#,
            r#""principals":[{"id":"sa-1","related":"","resource_name":""}],"#,
            r#""throughput":{"egress_byte_rate":"2000","ingress_byte_rate":"1000"}}}"#);
        let created = call_raw(&app, &org.admin, Method::POST, COLLECTION, create_body).await;
        assert_eq!(created.status, 202, "{}", created.body);
        assert_eq!(created.body["spec"]["cluster"]["environment"], "env-1");
        let id = id_of(&created.body);
        // `terraform apply` after changing only the throughput block.
        let throughput = r#"{"spec":{"throughput":{"egress_byte_rate":"3000000","ingress_byte_rate":"3000000"}}}"#;
        let reply = call_raw(&app, &org.admin, Method::PATCH, &path(&id), throughput).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["spec"]["throughput"]["ingress_byte_rate"], "3000000");
        assert_eq!(reply.body["spec"]["display_name"], "q", "fields not sent stay");
        assert_eq!(reply.body["spec"]["environment"]["id"], "env-1");
        // Then the description, the name and the principals, each alone.
        let bodies = [
            r#"{"spec":{"description":"for the batch jobs"}}"#,
            r#"{"spec":{"display_name":"batch"}}"#,
            r#"{"spec":{"principals":[{"id":"sa-2","related":"","resource_name":""},{"id":"sa-3","related":"","resource_name":""}]}}"#,
        ];
        for body in bodies {
            let reply = call_raw(&app, &org.admin, Method::PATCH, &path(&id), body).await;
            assert_eq!(reply.status, 200, "{body}: {}", reply.body);
        }
        let read = get(&app, &org.admin, &id).await.body;
        assert_eq!(read["spec"]["description"], "for the batch jobs");
        assert_eq!(read["spec"]["display_name"], "batch");
        assert_eq!(read["spec"]["principals"].as_array().map(Vec::len), Some(2));
        assert_eq!(read["spec"]["throughput"]["egress_byte_rate"], "3000000");
    }

    async fn the_clis_update_body_with_the_quota_id_and_the_spec_it_read_back_is_accepted(app) {
        let org = org(&app).await;
        let created = create(&app, &org, &quota("q", "env-1", "lkc-1", &["sa-1"])).await;
        let id = id_of(&created);
        // `confluent kafka quota update <id> --ingress 5000 --add-principals sa-9`: the CLI
        // describes the quota, then sends its spec back with the changes.
        let described = get(&app, &org.admin, &id).await.body;
        let spec = &described["spec"];
        let mut principals = spec["principals"].as_array().expect("principals").clone();
        principals.push(json!({"id": "sa-9", "related": "", "resource_name": ""}));
        let body = json!({"id": id, "spec": {
            "description": spec["description"],
            "display_name": spec["display_name"],
            "principals": principals,
            "throughput": {"egress_byte_rate": spec["throughput"]["egress_byte_rate"], "ingress_byte_rate": "5000"},
        }});
        let reply = call_raw(&app, &org.admin, Method::PATCH, &path(&id), &body.to_string()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["spec"]["throughput"]["ingress_byte_rate"], "5000");
        let ids: Vec<&str> = reply.body["spec"]["principals"].as_array().expect("principals")
            .iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, vec!["sa-1", "sa-9"]);
    }

    async fn a_quota_made_without_a_description_reads_back_an_empty_one(app) {
        let org = org(&app).await;
        let mut body = quota("q", "env-1", "lkc-1", &["sa-1"]);
        body["spec"].as_object_mut().expect("spec").remove("description");
        let created = create(&app, &org, &body).await;
        assert_eq!(created["spec"]["description"], "", "the CLI dereferences it");
        let listed = list(&app, &org.admin, "spec.cluster=lkc-1&environment=env-1").await;
        assert_eq!(listed.body["data"][0]["spec"]["description"], "");
        assert_eq!(get(&app, &org.admin, &id_of(&created)).await.body["spec"]["description"], "");
    }

    async fn the_clis_list_loop_sends_page_size_100_with_every_token_until_next_is_absent(app) {
        let org = org(&app).await;
        // 101 quotas on one cluster: past the default applied limit of 100, so the operator
        // raises it first.
        let raise = json!({"organization": org.tenant, "scope": "KAFKA_CLUSTER",
            "environment": "env-1", "kafka_cluster": "lkc-1", "applied_limit": 200});
        let raised = app.client.put(format!("{}/v1/applied-quotas/kafka.max_client_quotas.per_cluster", app.base))
            .bearer_auth(&app.system).json(&raise).send().await.expect("raise");
        assert_eq!(raised.status(), 200);
        let mut created = Vec::new();
        for i in 0..101 {
            let body = quota(&format!("q{i}"), "env-1", "lkc-1", &[&format!("sa-{i}")]);
            created.push(id_of(&create(&app, &org, &body).await));
            app.clock.advance(TimeDelta::milliseconds(1));
        }
        // The CLI's loop: the same query on every call, plus the token of the last `next`.
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = "page_size=100&spec.cluster=lkc-1&environment=env-1".to_owned();
            if !token.is_empty() {
                query.push_str(&format!("&page_token={token}"));
            }
            let page = list(&app, &org.admin, &query).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let data = page.body["data"].as_array().expect("data");
            sizes.push(data.len());
            seen.extend(data.iter().map(id_of));
            match page.body["metadata"]["next"].as_str() {
                Some(next) => {
                    let query = next.split_once('?').map_or("", |(_, q)| q);
                    token = form_urlencoded::parse(query.as_bytes())
                        .find(|(k, _)| k == "page_token")
                        .map(|(_, v)| v.into_owned())
                        .expect("a page_token in next");
                }
                None => break,
            }
        }
        assert_eq!(sizes, vec![100, 1]);
        assert_eq!(seen, created, "each once, oldest first");
    }
}
