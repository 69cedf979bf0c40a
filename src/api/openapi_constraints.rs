//! The constraints the native API enforces, stated in the OpenAPI document so that a generator or
//! a fuzzer sends only what the server accepts: name lengths and characters, subject sizes, amount
//! and TTL ranges, enumerations. One table, applied to the generated document; each entry cites
//! the rule it states. (Vendor paths keep the vendors' own schemas.)

use serde_json::{Value, json};

use super::openapi_schemas::{
    components, native_family, native_limit_id, schema_rules, set_quota_form,
};
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

/// A Confluent display name (`confluent::display_name`): 1 to 255 characters, not only blanks.
fn kafka_display_name() -> Value {
    // Something to show (a character that is not a space), and no control characters.
    json!({"minLength": 1, "maxLength": 255,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"})
}

/// A Confluent reference's id, as a create or update reads it.
fn kafka_ref_id() -> Value {
    json!({"minLength": 1, "maxLength": 255, "pattern": NO_CONTROL})
}

/// A Confluent byte rate: a decimal int64 of 0 or more, in a string.
fn byte_rate() -> Value {
    json!({"pattern": "^[0-9]{1,18}$"})
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
        // `Engine::acquire`: a lease of nothing would hold nothing.
        (
            "LeaseRequest",
            "amount",
            json!({"minimum": 1, "maximum": MAX_AMOUNT}),
        ),
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
        ("LimitPut", "family", native_family()),
        (
            "LimitPut",
            "mode",
            json!({"enum": ["enforce", "shadow", null]}),
        ),
        // RFC 3339: a date, `T`, a time (the server reads it with chrono).
        (
            "LimitPut",
            "expires_at",
            json!({"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"}),
        ),
        (
            "LimitPut",
            "per",
            json!({"maxItems": MAX_PAIRS, "items": name()}),
        ),
        ("TenantCreate", "name", display_name()),
        ("QuotaTemplatePut", "name", display_name()),
        (
            "ApiKeyCreate",
            "description",
            json!({"maxLength": 500, "pattern": NO_CONTROL}),
        ),
        ("ApiKeyCreate", "user_id", uuid()),
        (
            "ApiKeyCreate",
            "roles",
            json!({"minItems": 1, "items": {"enum": ["system", "admin", "staff", "support", "user"]}}),
        ),
        ("CallRequest", "consumer_id", name()),
        ("CallRequest", "tokens", amount()),
        ("CallRequest", "input_sequence_length", amount()),
        // DataRobot's own rules: `policies` may be left out but is never null; one resource type.
        ("QuotaUpdate", "policies", json!({"type": "array"})),
        ("QuotaUpdate", "defaultRules", json!({"type": "array"})),
        ("QuotaCreate", "resourceId", name()),
        ("QuotaPolicy", "consumerId", name()),
        (
            "QuotaPolicy",
            "consumerName",
            json!({"pattern": NO_CONTROL}),
        ),
        (
            "QuotaPolicy",
            "reserved",
            json!({"minimum": 0, "maximum": 1}),
        ),
        (
            "QuotaUpdate",
            "saturationThreshold",
            json!({"minimum": 0, "maximum": 1}),
        ),
        (
            "QuotaCreate",
            "saturationThreshold",
            json!({"minimum": 0, "maximum": 1}),
        ),
        ("QuotaCreate", "templateId", name()),
        ("QuotaCapacity", "capacity", amount()),
        // ZITADEL's `ListQuery.limit` is a uint32.
        (
            "v1ListQuery",
            "limit",
            json!({"oneOf": [{"type": "null"},
                {"type": "integer", "minimum": 0, "maximum": u32::MAX},
                {"type": "string", "pattern": "^[0-9]{1,9}$"}]}),
        ),
        // Confluent (`confluent::resource_id`, `ByteRate`): ids 1 to 255 characters without
        // control ones, byte rates decimal int64 strings.
        ("ObjectReferenceInput", "id", kafka_ref_id()),
        ("ThroughputInput", "ingress_byte_rate", byte_rate()),
        ("ThroughputInput", "egress_byte_rate", byte_rate()),
        // `confluent::display_name`: 1 to 255 characters, not only blanks.
        (
            "ClientQuotaSpecCreate",
            "display_name",
            kafka_display_name(),
        ),
        (
            "ClientQuotaSpecUpdate",
            "display_name",
            kafka_display_name(),
        ),
        (
            "QuotaCreate",
            "resourceType",
            json!({"enum": ["deployment"]}),
        ),
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
        ("AppliedQuotaAdjust", "organization", uuid()),
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
    // A Kafka id in a path (`confluent::resource_id`): 1 to 255 characters, no control ones.
    let kafka_id = || json!({"minLength": 1, "maxLength": 255, "pattern": NO_CONTROL});
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
    let principal_quota = "/v1/kafka/environments/{environment}/clusters/{cluster}/principals/{principal}/client-quota";
    vec![
        (
            "/v1/usage/consume",
            "post",
            "Idempotency-Key",
            idempotency(),
        ),
        ("/v1/leases", "post", "Idempotency-Key", idempotency()),
        (
            "/v1/audit",
            "get",
            "resource_type",
            json!({"enum": crate::domain::audit::ResourceType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()}),
        ),
        ("/api/v2/quotas/", "get", "offset", json!({"minimum": 0})),
        ("/api/v2/quotas/", "get", "limit", json!({"minimum": 0})),
        (
            "/api/v2/quotaTemplates/",
            "get",
            "offset",
            json!({"minimum": 0}),
        ),
        (
            "/api/v2/quotaTemplates/",
            "get",
            "limit",
            json!({"minimum": 0}),
        ),
        (
            "/kafka-quotas/v1/client-quotas",
            "get",
            "spec.cluster",
            // A list filter only needs to be there: an id no quota has finds nothing.
            json!({"minLength": 1}),
        ),
        (
            "/kafka-quotas/v1/client-quotas",
            "get",
            "environment",
            json!({"minLength": 1}),
        ),
        (
            "/service-quota/v1/applied-quotas",
            "get",
            "scope",
            json!({"enum": scopes}),
        ),
        ("/v1/limits/{id}", "put", "id", native_limit_id()),
        (
            "/v1/tenants/{tenant_id}/limits/{id}",
            "put",
            "id",
            native_limit_id(),
        ),
        (principal_quota, "get", "environment", kafka_id()),
        (principal_quota, "get", "cluster", kafka_id()),
        (principal_quota, "get", "principal", kafka_id()),
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
    set_quota_form(document);
    for (schema, extra) in schema_rules() {
        let pointer = format!("/components/schemas/{schema}");
        match document.pointer_mut(&pointer) {
            Some(target) => merge(target, &extra),
            None => tracing::warn!(pointer, "an OpenAPI constraint names no schema"),
        }
    }
    // grpc-gateway reads a missing body as `{}`.
    if let Some(required) =
        document.pointer_mut("/paths/~1system~1v1~1instances~1_search/post/requestBody/required")
    {
        *required = json!(false);
    }
    for (schema, replacement) in components() {
        let pointer = format!("/components/schemas/{schema}");
        match document.pointer_mut(&pointer) {
            Some(target) => *target = replacement,
            None => tracing::warn!(pointer, "an OpenAPI constraint names no schema"),
        }
    }
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
            assert!(schema.is_some(), "{path} {name}");
        }
        let metric = document
            .pointer("/components/schemas/UsageRequest/properties/metric/maxLength")
            .cloned();
        assert_eq!(metric, Some(json!(200)));
    }
}
