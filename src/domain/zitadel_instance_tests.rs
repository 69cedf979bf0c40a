//! Tests of `zitadel_instance.rs`.
use super::*;

#[test]
fn setting_no_limit_at_all_is_refused() {
    let none = LimitsChange {
        audit_log_retention: None,
        block: None,
    };
    assert!(
        matches!(validate(&none), Err(Error::Invalid { message, .. }) if message == messages::NONE_SPECIFIED)
    );
    let block = LimitsChange {
        block: Some(false),
        ..none.clone()
    };
    assert!(validate(&block).is_ok());
    let negative = LimitsChange {
        audit_log_retention: Some(TimeDelta::seconds(-1)),
        ..none
    };
    assert!(validate(&negative).is_err());
}

#[test]
fn a_blocked_tenant_is_blocked_until_unblocked() {
    let blocks = InstanceBlocks::default();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    blocks.set(a, true);
    assert!(blocks.is_blocked(a));
    assert!(!blocks.is_blocked(b));
    blocks.set(a, false);
    assert!(!blocks.is_blocked(a));
}
