//! The server's rules that span several properties of a schema (or a whole request body), stated
//! in the OpenAPI document beside the per-property table of [`super::openapi_constraints`]: whole
//! schemas replaced or merged, and the `set_quota` form body.

use serde_json::{Value, json};

use crate::domain::limit::MAX_NAME_CHARS;

/// (component schema, the schema it becomes) for schemas whose rules span several properties.
pub(super) fn components() -> Vec<(&'static str, Value)> {
    let kinds = [
        "none",
        "second",
        "minute",
        "hour",
        "day",
        "calendar_day",
        "calendar_week",
        "calendar_month",
        "anchored",
    ];
    vec![
        // `AmountBody::parse`: a whole number of 0 or more, or the word `unlimited`.
        (
            "AmountBody",
            json!({"description": "An amount: a whole number of units, or `\"unlimited\"`.",
                "oneOf": [{"type": "integer", "format": "int64", "minimum": 0},
                          {"type": "string", "enum": ["unlimited"]}]}),
        ),
        // `Window::try_from(WindowSpec)`: `from` and `interval_seconds` with `anchored` only,
        // and then both.
        (
            "WindowBody",
            json!({
                "description": "A window on the wire: `{\"kind\": ..., \"from\"?, \"interval_seconds\"?}`.",
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "enum": kinds,
                        "description": "Every kind but `anchored` takes neither `from` nor `interval_seconds`; `anchored` takes both."},
                    "from": {"type": ["string", "null"], "format": "date-time",
                        "description": "Anchored windows: the start of the first period.",
                        "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$"},
                    "interval_seconds": {"type": ["integer", "null"], "format": "int64",
                        "description": "Anchored windows: the length of a period.",
                        "minimum": 1, "maximum": i64::MAX / 1000},
                },
                "if": {"properties": {"kind": {"const": "anchored"}}},
                "then": {"required": ["from", "interval_seconds"],
                    "properties": {"from": {"type": "string"}, "interval_seconds": {"type": "integer"}}},
                "else": {"properties": {"from": {"type": "null"}, "interval_seconds": {"type": "null"}}},
            }),
        ),
    ]
}

/// A native limit's id (`authority::check_native_limit_id` and `limit::check_name`): a name that
/// does not start with a surface's prefix.
pub(super) fn native_limit_id() -> Value {
    not_a_surfaces(&[])
}

/// A native limit's family (`authority::check_native_family`): the same, nor Confluent's.
pub(super) fn native_family() -> Value {
    not_a_surfaces(&["confluent-client-quota"])
}

/// A name that starts with none of the surfaces' prefixes, nor any of `more`.
fn not_a_surfaces(more: &[&str]) -> Value {
    let mut prefixes = vec![
        "confluent\\.",
        "service-quota\\.",
        "datarobot:",
        "zitadel:",
        "waldur-chat-",
    ];
    prefixes.extend_from_slice(more);
    json!({"minLength": 1, "maxLength": MAX_NAME_CHARS,
        "pattern": format!("^(?!{})[^\\u0000-\\u001F\\u007F-\\u009F]*$", prefixes.join("|"))})
}

/// The `set_quota` body as a form: a form field has no `null` (an omitted field keeps the limit,
/// as in JSON), so each limit is an integer.
pub(super) fn set_quota_form(document: &mut Value) {
    let Some(mut form) = document
        .pointer("/components/schemas/SetTokenQuotaRequest")
        .cloned()
    else {
        return;
    };
    for period in ["daily_limit", "weekly_limit", "monthly_limit"] {
        if let Some(limit) = form.pointer_mut(&format!("/properties/{period}")) {
            limit["type"] = json!("integer");
        }
    }
    // A part's name travels in a header, where control characters cannot be sent.
    form["propertyNames"] = json!({"pattern": "^[^\\u0000-\\u001F\\u007F]*$"});
    document["components"]["schemas"]["SetTokenQuotaForm"] = form;
    let path = "/paths/~1api~1chat-quota~1set_quota~1/post/requestBody/content";
    for media in ["application~1x-www-form-urlencoded", "multipart~1form-data"] {
        if let Some(schema) = document.pointer_mut(&format!("{path}/{media}/schema")) {
            *schema = json!({"$ref": "#/components/schemas/SetTokenQuotaForm"});
        }
    }
}

/// A Confluent reference's id in a create: 1 to 255 characters, no control characters.
fn reference_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"})
}

/// (component schema, constraints) merged into whole schemas: rules across properties.
pub(super) fn schema_rules() -> Vec<(&'static str, Value)> {
    vec![
        // protojson: a decimal string, or a number (uint64 does not fit every JSON number).
        (
            "Uint",
            json!({"oneOf": [{"minimum": 0, "maximum": u64::MAX, "type": "integer"},
                {"type": "string", "pattern": "^[0-9]{1,19}$"}]}),
        ),
        // Confluent's samples send the environment as a one-element array.
        (
            "EnvironmentInput",
            json!({"oneOf": [{"$ref": "#/components/schemas/ObjectReferenceInput"},
                {"type": "array", "minItems": 1, "maxItems": 1,
                    "items": {"$ref": "#/components/schemas/ObjectReferenceInput"}}]}),
        ),
        // Fields the message does not have are ignored, as a gateway that discards unknown
        // fields does; a repeated field may be null (protojson reads it as empty).
        (
            "SystemServiceListInstancesBody",
            json!({"properties": {"queries": {"type": ["array", "null"]}}}),
        ),
        // Confluent: a create needs every part of the spec but the description.
        (
            "ClientQuotaSpecCreate",
            json!({"required": ["display_name", "throughput", "cluster", "principals", "environment"],
            "properties": {
                "display_name": {"type": "string"},
                "principals": {"type": "array", "minItems": 1, "uniqueItems": true,
                    "items": {"required": ["id"],
                    "properties": {"id": reference_id()}}},
                "cluster": {"oneOf": [{"$ref": "#/components/schemas/ObjectReferenceInput"}],
                    "required": ["id"], "properties": {"id": reference_id()}},
                "environment": {"oneOf": [
                    {"type": "object", "required": ["id"], "properties": {"id": reference_id()}},
                    {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object",
                        "required": ["id"], "properties": {"id": reference_id()}}},
                ]},
                "throughput": {"oneOf": [{"$ref": "#/components/schemas/ThroughputInput"}],
                    "required": ["ingress_byte_rate", "egress_byte_rate"],
                    "properties": {"ingress_byte_rate": {"type": "string"},
                        "egress_byte_rate": {"type": "string"}}},
            }}),
        ),
        (
            "ClientQuotaCreate",
            json!({"required": ["spec"],
            "properties": {"spec": {"oneOf": [{"$ref": "#/components/schemas/ClientQuotaSpecCreate"}]}}}),
        ),
        // DataRobot: default rules either given or taken from a template, never both.
        (
            "QuotaCreate",
            json!({
                "if": {"required": ["templateId"], "properties": {"templateId": {"type": "string"}}},
                "then": {"properties": {"defaultRules": {"type": "null"}}},
                "else": {"required": ["defaultRules"], "properties": {"defaultRules": {"type": "array"}}},
            }),
        ),
    ]
}
