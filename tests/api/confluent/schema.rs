//! Response bodies checked against the vendor's own OpenAPI files (read from `shared/`, never
//! copied): the schema of the operation's response for the status answered, resolved within the
//! whole document, with OpenAPI 3.0's `nullable` turned into JSON Schema.
//!
//! The files are looked for beside the repository (`../shared/vendor-specs`), then under
//! `$QUOTAPLANE_SHARED_DIR/vendor-specs`. Without them the check is skipped, except under
//! `CI=true`, where it fails.

use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::Reply;

const FILES: &[&str] = &[
    "confluent-kafka-quotas-v1.openapi.yaml",
    "confluent-kafka-quotas-v1.GA-2023-fullspec-extract.openapi.yaml",
    SERVICE_QUOTA_FILE,
];
/// The vendor file of the applied quotas API.
const SERVICE_QUOTA_FILE: &str = "confluent-service-quota-v1.openapi.yaml";

fn spec_dir() -> Option<PathBuf> {
    let beside = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vendor-specs"
    ));
    let from_env = std::env::var("QUOTAPLANE_SHARED_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("vendor-specs"));
    let found = [Some(beside), from_env]
        .into_iter()
        .flatten()
        .find(|dir| dir.join(FILES[0]).is_file());
    if found.is_none() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true but the vendor specs were found neither in ../shared/vendor-specs nor \
             under $QUOTAPLANE_SHARED_DIR/vendor-specs"
        );
        eprintln!("skipped schema checks: vendor specs not found (set QUOTAPLANE_SHARED_DIR)");
    }
    found
}

/// The vendor documents, as JSON, with `nullable` rewritten, each with its file name.
fn documents() -> &'static [(&'static str, Value)] {
    static DOCS: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let Some(dir) = spec_dir() else {
            return Vec::new();
        };
        FILES
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(dir.join(file)).expect("read vendor spec");
                let mut doc: Value = serde_norway::from_str(&text).expect("vendor spec is YAML");
                without_nullable(&mut doc);
                (*file, doc)
            })
            .collect()
    })
}

/// OpenAPI 3.0 `nullable: true` is not JSON Schema: it becomes a type that admits null.
fn without_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                }
            }
            map.values_mut().for_each(without_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(without_nullable),
        _ => {}
    }
}

/// The operation path of `path` in the vendor files, and whether it is a service-quota one.
fn template(path: &str) -> Option<(&'static str, bool)> {
    let path = path.split('?').next().unwrap_or(path);
    let under = |prefix: &str, collection: &'static str, item: &'static str| match path
        .strip_prefix(prefix)
    {
        Some("") => Some(collection),
        Some(rest) if rest.starts_with('/') && rest.len() > 1 => Some(item),
        _ => None,
    };
    if let Some(t) = under(
        super::COLLECTION,
        "/kafka-quotas/v1/client-quotas",
        "/kafka-quotas/v1/client-quotas/{id}",
    ) {
        return Some((t, false));
    }
    under(
        "/service-quota/v1/applied-quotas",
        "/service-quota/v1/applied-quotas",
        "/service-quota/v1/applied-quotas/{id}",
    )
    .or_else(|| {
        under(
            "/service-quota/v1/scopes",
            "/service-quota/v1/scopes",
            "/service-quota/v1/scopes/{id}",
        )
    })
    .map(|t| (t, true))
}

/// The schema `doc` gives for the answer, self-contained (with the document's components).
fn schema_for(doc: &Value, path: &str, method: &Method, status: u16) -> Option<Value> {
    let responses = &doc["paths"][path][method.as_str().to_lowercase()]["responses"];
    let declared = &responses[status.to_string()];
    let schema = match declared.get("content") {
        Some(content) => content["application/json"]["schema"].clone(),
        None if declared.is_object() && status < 400 => return None,
        None => {
            assert!(
                status >= 400,
                "{method} {path} answered {status}, which the vendor does not declare"
            );
            json!({"$ref": "#/components/schemas/Failure"})
        }
    };
    let mut wrapped = Map::new();
    wrapped.insert("allOf".into(), json!([schema]));
    wrapped.insert("components".into(), doc["components"].clone());
    Some(Value::Object(wrapped))
}

/// Fails the test when `reply` does not fit the vendor's schema for the call.
pub fn check(path: &str, method: &Method, reply: &Reply) {
    let Some((template, service_quota)) = template(path) else {
        return;
    };
    let docs = documents()
        .iter()
        .filter(|(file, _)| (*file == SERVICE_QUOTA_FILE) == service_quota)
        .map(|(_, doc)| doc);
    for doc in docs {
        match schema_for(doc, template, method, reply.status) {
            Some(schema) => {
                let validator = jsonschema::draft4::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .expect("the vendor schema compiles");
                let errors: Vec<String> = validator
                    .iter_errors(&reply.body)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{method} {path} -> {}: body does not fit the vendor schema: {errors:?}\n{}",
                    reply.status,
                    reply.body
                );
            }
            None => assert!(
                reply.body.is_null(),
                "{method} {path} -> {} should have no body",
                reply.status
            ),
        }
    }
}

#[test]
fn the_schema_check_refuses_a_body_that_breaks_the_vendor_schema() {
    let Some((_, doc)) = documents().first() else {
        return;
    };
    let schema = schema_for(
        doc,
        "/kafka-quotas/v1/client-quotas/{id}",
        &Method::GET,
        200,
    )
    .expect("schema");
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("compiles");
    // Throughput as a number, not a string; a reference without `related`.
    let wrong = json!({"api_version": "kafka-quotas/v1", "kind": "ClientQuota", "id": "cq-1",
        "metadata": {"self": "not a uri"},
        "spec": {"display_name": "x", "throughput": {"ingress_byte_rate": 5, "egress_byte_rate": "5"},
            "cluster": {"id": "lkc-1"}, "principals": [], "environment": {"id": "env-1"}}});
    assert!(validator.iter_errors(&wrong).count() >= 3);
    let failure =
        schema_for(doc, "/kafka-quotas/v1/client-quotas", &Method::POST, 422).expect("422");
    let failure = jsonschema::draft4::new(&failure).expect("compiles");
    assert!(!failure.is_valid(&json!({"errors": [{"status": 422}]})));
    assert!(failure.is_valid(&json!({"errors": [{"status": "422"}]})));
}
