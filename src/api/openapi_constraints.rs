//! The constraints the native API enforces, stated in the OpenAPI document so that a generator or
//! a fuzzer sends only what the server accepts: name lengths and characters, subject sizes, amount
//! and TTL ranges, enumerations. One table, applied to the generated document; each entry cites
//! the rule it states. (Vendor paths keep the vendors' own schemas.)

use serde_json::{Value, json};

use crate::domain::limit::{MAX_NAME_CHARS, MAX_PAIRS, MAX_VALUE_CHARS};
use crate::domain::service_quota::Scope;
use crate::domain::usage::{MAX_AMOUNT, MAX_LEASE_SECONDS};

/// Characters `char::is_control` refuses (Unicode Cc), as a JSON Schema pattern.
const NO_CONTROL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// A metric, limit id or subject key (`limit::check_name`).
fn name() -> Value {
    json!({"minLength": 1, "maxLength": MAX_NAME_CHARS, "pattern": NO_CONTROL})
}

/// A subject (`Subject::parse`): at most 16 pairs of checked keys and bounded values.
fn subject() -> Value {
    json!({
        "maxProperties": MAX_PAIRS,
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS,
            "pattern": NO_CONTROL},
        "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_CHARS,
            "pattern": NO_CONTROL},
    })
}

/// An amount of units (`Usage::new`).
fn amount() -> Value {
    json!({"minimum": 0, "maximum": MAX_AMOUNT})
}

/// A tenant's or template's display name: 1 to 200 characters once trimmed, no control
/// characters (`TenantName::parse`).
fn display_name() -> Value {
    json!({"minLength": 1, "maxLength": 200,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"})
}

/// A UUID as the `uuid` crate reads it in a JSON body (hyphenated or simple).
fn uuid() -> Value {
    json!({"pattern": "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"})
}

/// (component schema, property, constraints) for request bodies.
fn properties() -> Vec<(&'static str, &'static str, Value)> {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
    vec![
        ("UsageRequest", "metric", name()),
        ("UsageRequest", "subject", subject()),
        ("UsageRequest", "amount", amount()),
        ("ReportRequest", "metric", name()),
        ("ReportRequest", "subject", subject()),
        ("ReportRequest", "value", amount()),
        ("LeaseRequest", "metric", name()),
        ("LeaseRequest", "subject", subject()),
        ("LeaseRequest", "amount", amount()),
        (
            "LeaseRequest",
            "ttl_seconds",
            json!({"minimum": 1, "maximum": MAX_LEASE_SECONDS}),
        ),
        // ZITADEL's enum as grpc-gateway reads it: its name, or its number.
        (
            "SystemServiceListInstancesBody",
            "sortingColumn",
            json!({"oneOf": [
                {"type": "null"},
                {"type": "string", "enum": ["FIELD_NAME_UNSPECIFIED", "FIELD_NAME_ID",
                    "FIELD_NAME_NAME", "FIELD_NAME_CREATION_DATE"]},
                {"type": "integer", "minimum": 0, "maximum": 3},
            ]}),
        ),
        ("LimitPut", "metric", name()),
        ("LimitPut", "subject", subject()),
        (
            "LimitPut",
            "per",
            json!({"maxItems": MAX_PAIRS, "items": name()}),
        ),
        ("TenantCreate", "name", display_name()),
        ("QuotaTemplatePut", "name", display_name()),
        ("ApiKeyCreate", "description", json!({"maxLength": 500})),
        ("ApiKeyCreate", "user_id", uuid()),
        (
            "ApiKeyCreate",
            "roles",
            json!({"minItems": 1, "items": {"enum": ["system", "admin", "staff", "support", "user"]}}),
        ),
        ("CallRequest", "consumer_id", name()),
        (
            "CallRequest",
            "lease_seconds",
            json!({"minimum": 1, "maximum": MAX_LEASE_SECONDS}),
        ),
        // `datarobot::Rule::validate`: the same bound on every surface that takes rules.
        ("QuotaRule", "limit", amount()),
        (
            "CallRequest",
            "consumer_type",
            json!({"enum": ["deployment", "user", "usergroup"]}),
        ),
        ("ServiceQuotaCodeDefine", "scope", json!({"enum": scopes})),
        (
            "ServiceQuotaCodeDefine",
            "default_limit",
            json!({"minimum": 0, "maximum": i32::MAX}),
        ),
        // `alert::check_url`: an absolute http(s) URL of a named host, at most 2048 characters.
        (
            "AlertTargetCreate",
            "url",
            json!({"maxLength": crate::domain::alert::MAX_URL_CHARS,
                "pattern": "^https?://[a-z][a-z0-9-]{0,62}(\\.[a-z][a-z0-9-]{0,62})*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"}),
        ),
        // `alert::parse_rules`: rule ids, target ids, threshold ranges.
        (
            "AlertRuleBody",
            "id",
            json!({"pattern": "^[A-Za-z0-9._-]{1,64}$"}),
        ),
        ("AlertRuleBody", "target_id", uuid()),
        (
            "ThresholdBody",
            "units",
            json!({"minimum": 1, "maximum": MAX_AMOUNT}),
        ),
        ("AppliedQuotaAdjust", "scope", json!({"enum": scopes})),
        (
            "AppliedQuotaAdjust",
            "applied_limit",
            json!({"minimum": 0, "maximum": i32::MAX}),
        ),
    ]
}

/// (path, method, parameter, constraints on its schema) for parameters.
fn parameters() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    // `Idempotency-Key`: 1 to 255 visible ASCII characters (`usage::MAX_IDEMPOTENCY_KEY_CHARS`;
    // HTTP trims the ends of a header value).
    let idempotency = || {
        json!({"minLength": 1, "maxLength": crate::domain::usage::MAX_IDEMPOTENCY_KEY_CHARS,
            "pattern": "^[!-~]([ -~]*[!-~])?$"})
    };
    vec![
        (
            "/v1/usage/consume",
            "post",
            "Idempotency-Key",
            idempotency(),
        ),
        ("/v1/leases", "post", "Idempotency-Key", idempotency()),
    ]
}

/// Merges `extra` into the object at `target` (nullable properties keep their `null`).
fn merge(target: &mut Value, extra: &Value) {
    let (Some(target), Some(extra)) = (target.as_object_mut(), extra.as_object()) else {
        return;
    };
    for (k, v) in extra {
        match (target.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => merge(existing, v),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// States the table's constraints in `document` (the generated OpenAPI document as JSON).
pub fn constrain(document: &mut Value) {
    for (schema, property, extra) in properties() {
        let pointer = format!("/components/schemas/{schema}/properties/{property}");
        match document.pointer_mut(&pointer) {
            Some(target) => merge(target, &extra),
            None => tracing::warn!(pointer, "an OpenAPI constraint names no property"),
        }
    }
    for (path, method, name, extra) in parameters() {
        let pointer = format!("/paths/{}/{method}/parameters", path.replace('/', "~1"));
        let parameter = document
            .pointer_mut(&pointer)
            .and_then(Value::as_array_mut)
            .and_then(|params| params.iter_mut().find(|p| p["name"] == name));
        match parameter {
            Some(parameter) => merge(&mut parameter["schema"], &extra),
            None => tracing::warn!(pointer, name, "an OpenAPI constraint names no parameter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constraint_lands_on_a_property_of_the_document() {
        let document: Value =
            serde_json::from_str(crate::api::openapi::document()).expect("the document is JSON");
        for (schema, property, _) in properties() {
            let pointer = format!("/components/schemas/{schema}/properties/{property}");
            assert!(document.pointer(&pointer).is_some(), "{pointer}");
        }
        for (path, method, name, _) in parameters() {
            let pointer = format!("/paths/{}/{method}/parameters", path.replace('/', "~1"));
            let params = document.pointer(&pointer).and_then(Value::as_array);
            let schema = params.and_then(|ps| ps.iter().find(|p| p["name"] == name));
            assert!(
                schema.is_some_and(|p| p["schema"]["maxLength"].is_number()),
                "{path} {name}"
            );
        }
        let metric = document
            .pointer("/components/schemas/UsageRequest/properties/metric/maxLength")
            .cloned();
        assert_eq!(metric, Some(json!(200)));
    }
}
