//! ZITADEL's command rules for a quota's specification.

use super::*;

fn spec() -> QuotaSpec {
    QuotaSpec {
        unit: Unit::RequestsAllAuthenticated,
        from: DateTime::UNIX_EPOCH,
        reset_interval: TimeDelta::hours(1),
        amount: 10,
        limit: true,
        notifications: vec![NotificationSpec {
            percent: 50,
            call_url: "https://hooks.example/q".into(),
            repeat: true,
        }],
    }
}

fn message_of(spec: &QuotaSpec) -> Option<(String, String)> {
    match validate(spec) {
        Err(Error::Invalid { field, message }) => Some((field.name().to_owned(), message)),
        _ => None,
    }
}

#[test]
fn a_valid_quota_passes() {
    assert!(validate(&spec()).is_ok());
}

#[test]
fn a_reset_interval_under_a_minute_is_refused() {
    let mut s = spec();
    s.reset_interval = TimeDelta::seconds(59);
    assert_eq!(
        message_of(&s),
        Some((
            "/resetInterval".into(),
            messages::RESET_INTERVAL_TOO_SHORT.into()
        ))
    );
    s.reset_interval = TimeDelta::seconds(60);
    assert!(validate(&s).is_ok());
}

#[test]
fn call_urls_must_be_absolute_with_a_host() {
    for (url, message) in [
        ("/relative", messages::CALL_URL_NOT_ABSOLUTE),
        ("mailto:a@b.c", messages::CALL_URL_NOT_ABSOLUTE),
        ("http://exa mple.com", messages::CALL_URL_UNPARSABLE),
    ] {
        let mut s = spec();
        s.notifications[0].call_url = url.into();
        assert_eq!(
            message_of(&s),
            Some(("/notifications/0/callUrl".into(), message.into())),
            "{url}"
        );
    }
}

#[test]
fn duplicate_notifications_are_refused() {
    let mut s = spec();
    s.notifications.push(s.notifications[0].clone());
    assert_eq!(
        message_of(&s),
        Some((
            "/notifications/1".into(),
            messages::DUPLICATE_NOTIFICATION.into()
        ))
    );
    s.notifications[1].repeat = false;
    assert!(validate(&s).is_ok());
}

#[test]
fn units_are_read_by_name_or_number() {
    assert_eq!(Unit::from_number(1), Some(Unit::RequestsAllAuthenticated));
    assert_eq!(
        Unit::from_name("UNIT_ACTIONS_ALL_RUN_SECONDS"),
        Some(Unit::ActionsAllRunSeconds)
    );
    assert_eq!(Unit::from_number(0), None);
    assert_eq!(
        Unit::of_metric(REQUESTS_METRIC),
        Some(Unit::RequestsAllAuthenticated)
    );
}
