//! Tests of `mod.rs`.
use super::*;
use crate::domain::Field;

fn quota() -> Quota {
    Quota {
        id: new_id(),
        tenant_id: Uuid::nil(),
        resource_type: "deployment".into(),
        resource_id: "d1".into(),
        user_id: "u".into(),
        default_rules: vec![Rule {
            rule: RuleKind::Requests,
            limit: 10,
            window: RuleWindow::Min,
        }],
        policies: Vec::new(),
        capacity: None,
        saturation_threshold: None,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

fn pointer(result: Result<()>) -> Option<String> {
    match result {
        Err(Error::Invalid {
            field: Field::Body(p),
            ..
        }) => Some(p),
        _ => None,
    }
}

#[test]
fn ids_are_24_hex_digits() {
    let id = new_id();
    assert_eq!(id.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(id, new_id());
}

#[test]
fn each_rule_of_the_schema_is_checked_where_it_is() {
    assert_eq!(pointer(quota().validate()), None);
    let mut q = quota();
    q.resource_type = "model".into();
    assert_eq!(pointer(q.validate()).as_deref(), Some("/resourceType"));
    let mut q = quota();
    q.default_rules[0].limit = -1;
    assert_eq!(
        pointer(q.validate()).as_deref(),
        Some("/defaultRules/0/limit")
    );
    let mut q = quota();
    q.default_rules = vec![q.default_rules[0].clone(); 101];
    assert_eq!(pointer(q.validate()).as_deref(), Some("/defaultRules"));
    let mut q = quota();
    q.saturation_threshold = Some(1.5);
    assert_eq!(
        pointer(q.validate()).as_deref(),
        Some("/saturationThreshold")
    );
    let policy = Policy {
        consumer_id: "alice".into(),
        consumer_type: ConsumerType::User,
        consumer_name: None,
        reserved: Some(-0.1),
        rules: Vec::new(),
    };
    let mut q = quota();
    q.policies = vec![policy.clone()];
    assert_eq!(
        pointer(q.validate()).as_deref(),
        Some("/policies/0/reserved")
    );
    let mut q = quota();
    let fine = Policy {
        reserved: Some(0.5),
        ..policy
    };
    q.policies = vec![fine.clone(), fine];
    assert_eq!(
        pointer(q.validate()).as_deref(),
        Some("/policies/1/consumerId")
    );
}
