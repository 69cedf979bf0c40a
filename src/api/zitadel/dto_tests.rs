//! Tests of `dto.rs`.
use super::*;

#[test]
fn durations_are_protobuf_json() {
    assert_eq!(duration("3600s").ok(), Some(TimeDelta::hours(1)));
    assert_eq!(duration("60.000s").ok(), Some(TimeDelta::minutes(1)));
    assert_eq!(duration("-5s").ok(), Some(TimeDelta::seconds(-5)));
    for bad in [
        "720h",
        "3600",
        "s",
        "1.5.5s",
        "1.1234567890s",
        "x60s",
        "99999999999999s",
    ] {
        assert!(duration(bad).is_err(), "{bad}");
    }
    assert!(duration("60.5s").is_err(), "fractions are refused");
}

fn body(json: serde_json::Value) -> SystemServiceAddQuotaBody {
    serde_json::from_value(json).expect("body")
}

fn message(json: serde_json::Value, request: Request) -> String {
    match body(json).into_spec(request) {
        Err(Error::Invalid { message, .. }) => message,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn units_amounts_and_percents_come_as_numbers_or_strings() {
    let spec = body(serde_json::json!({
        "unit": 1, "from": "2024-01-01T00:00:00Z", "reset_interval": "60s", "amount": "7",
        "notifications": [{"percent": "80", "call_url": "http://h/x"}]
    }))
    .into_spec(Request::Add)
    .expect("valid");
    assert_eq!(spec.unit, Unit::RequestsAllAuthenticated);
    assert_eq!(spec.amount, 7);
    assert_eq!(spec.notifications[0].percent, 80);
}

#[test]
fn proto_rules_are_worded_as_protoc_gen_validate_words_them() {
    let base = serde_json::json!({"unit": "UNIT_REQUESTS_ALL_AUTHENTICATED",
        "from": "2024-01-01T00:00:00Z", "resetInterval": "60s", "amount": 0});
    assert_eq!(
        message(base.clone(), Request::Add),
        "invalid AddQuotaRequest.Amount: value must be greater than 0"
    );
    assert!(
        body(base.clone()).into_spec(Request::Set).is_ok(),
        "SetQuota accepts 0"
    );
    let mut unimplemented = base.clone();
    unimplemented["unit"] = "UNIT_UNIMPLEMENTED".into();
    assert_eq!(
        message(unimplemented, Request::Set),
        "invalid SetQuotaRequest.Unit: value must not be in list [0]"
    );
    let mut no_from = base;
    no_from.as_object_mut().map(|o| o.remove("from"));
    assert_eq!(
        message(no_from, Request::Set),
        "invalid SetQuotaRequest.From: value is required"
    );
}
