//! ZITADEL instance quotas (`AddQuota`, `SetQuota`, `RemoveQuota` of the system API): a quota is
//! one engine limit per (instance, unit), where an instance is a tenant. Its notifications are the
//! limit's notification rules; its `from` and `resetInterval` an anchored window.
//!
//! The rules here are ZITADEL's command rules (`internal/command/quota.go`); the wire format and
//! the proto-level validation live in `crate::api::zitadel`.

use crate::domain::aggregate::{AggregateStore, AggregateWrite, OwnedLimits, Row, Rules, Written};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::audit::{Actor, AuditRecord, zitadel_quota_change as quota_change, zitadel_quota_json};
use super::limit::{Amount, Limit, Subject};
use super::notification::Notification;
use super::principal::Caller;
use super::usage::{Engine, MAX_AMOUNT};
use super::window::Window;
use super::zitadel_instance::InstanceStore;
use super::{Error, Result};
use crate::domain::ports::*;

/// The metric of `UNIT_REQUESTS_ALL_AUTHENTICATED`: a tenant's authenticated requests, counted
/// by the metering layer.
pub const REQUESTS_METRIC: &str = "requests.all.authenticated";
/// The metric of `UNIT_ACTIONS_ALL_RUN_SECONDS`: reported by the tenant through the usage engine.
pub const ACTION_SECONDS_METRIC: &str = "actions.all.runs.seconds";

/// Domain messages the ZITADEL envelope translates to ZITADEL's ids and texts.
pub mod messages {
    pub const RESET_INTERVAL_TOO_SHORT: &str = "the reset interval is shorter than a minute";
    pub const CALL_URL_UNPARSABLE: &str = "the call URL cannot be parsed";
    pub const CALL_URL_NOT_ABSOLUTE: &str = "the call URL is not absolute or has no host";
    pub const PERCENT_TOO_LOW: &str = "the percent is lower than 1";
    pub const DUPLICATE_NOTIFICATION: &str = "the notification is given twice";
    pub const AMOUNT_TOO_LARGE: &str = "the amount is larger than quotaplane supports";
}

/// Shortest reset interval ZITADEL accepts.
pub const MIN_RESET_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// What a quota is imposed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    RequestsAllAuthenticated,
    ActionsAllRunSeconds,
}

impl Unit {
    /// Both units.
    pub const ALL: [Unit; 2] = [Unit::RequestsAllAuthenticated, Unit::ActionsAllRunSeconds];

    /// The enum number (also the `unit` of a notification's payload).
    pub fn number(self) -> i32 {
        match self {
            Unit::RequestsAllAuthenticated => 1,
            Unit::ActionsAllRunSeconds => 2,
        }
    }

    /// The enum name.
    pub fn name(self) -> &'static str {
        match self {
            Unit::RequestsAllAuthenticated => "UNIT_REQUESTS_ALL_AUTHENTICATED",
            Unit::ActionsAllRunSeconds => "UNIT_ACTIONS_ALL_RUN_SECONDS",
        }
    }

    /// The unit with this enum number.
    pub fn from_number(n: i64) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| i64::from(u.number()) == n)
    }

    /// The unit with this enum name.
    pub fn from_name(name: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.name() == name)
    }

    /// The engine metric the unit counts.
    pub fn metric(self) -> &'static str {
        match self {
            Unit::RequestsAllAuthenticated => REQUESTS_METRIC,
            Unit::ActionsAllRunSeconds => ACTION_SECONDS_METRIC,
        }
    }

    /// The unit counting `metric`, if any (for a notification's payload).
    pub fn of_metric(metric: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.metric() == metric)
    }

    /// The id of the engine limit behind the quota, which is also its owner.
    pub fn limit_id(self) -> String {
        format!("zitadel:{}", self.name())
    }
}

/// One notification as asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotificationSpec {
    pub percent: u32,
    pub call_url: String,
    pub repeat: bool,
}

/// A quota as asked for by AddQuota or SetQuota (already through proto-level validation).
#[derive(Debug, Clone)]
pub struct QuotaSpec {
    pub unit: Unit,
    pub from: DateTime<Utc>,
    pub reset_interval: TimeDelta,
    pub amount: u64,
    pub limit: bool,
    pub notifications: Vec<NotificationSpec>,
}

/// What quotaplane keeps of a quota besides its limit: ZITADEL's object details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRecord {
    pub tenant_id: Uuid,
    pub unit: Unit,
    /// The instance's sequence at the last change (monotonic per instance).
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// The date of the last change.
    pub updated_at: DateTime<Utc>,
}

/// ZITADEL's `ObjectDetails` of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub sequence: i64,
    /// The event's date: `creationDate` for Add and Set, `changeDate` for Remove.
    pub date: DateTime<Utc>,
    pub resource_owner: Uuid,
}

/// The command-level rules of a quota (ZITADEL's `validate`), in ZITADEL's order.
pub fn validate(spec: &QuotaSpec) -> Result<()> {
    if spec.reset_interval < MIN_RESET_INTERVAL {
        return Err(Error::invalid_body(
            "/resetInterval",
            messages::RESET_INTERVAL_TOO_SHORT,
        ));
    }
    if i64::try_from(spec.amount).map_or(true, |a| a > MAX_AMOUNT) {
        return Err(Error::invalid_body("/amount", messages::AMOUNT_TOO_LARGE));
    }
    for (i, n) in spec.notifications.iter().enumerate() {
        check_call_url(&n.call_url, i)?;
        if n.percent < 1 {
            return Err(Error::invalid_body(
                format!("/notifications/{i}/percent"),
                messages::PERCENT_TOO_LOW,
            ));
        }
    }
    for (i, n) in spec.notifications.iter().enumerate() {
        if spec.notifications[..i].contains(n) {
            return Err(Error::invalid_body(
                format!("/notifications/{i}"),
                messages::DUPLICATE_NOTIFICATION,
            ));
        }
    }
    Ok(())
}

fn check_call_url(call_url: &str, i: usize) -> Result<()> {
    let pointer = format!("/notifications/{i}/callUrl");
    match url::Url::parse(call_url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Err(Error::invalid_body(
            pointer,
            messages::CALL_URL_NOT_ABSOLUTE,
        )),
        Err(_) => Err(Error::invalid_body(pointer, messages::CALL_URL_UNPARSABLE)),
    }
}

/// The tenant an `instanceId` names, for a system caller: `Forbidden` for any other caller,
/// `NotFound` when no tenant has that id.
pub async fn instance(store: &impl Store, caller: &Caller, instance_id: &str) -> Result<Uuid> {
    caller.require_system()?;
    let id = Uuid::parse_str(instance_id).map_err(|_| Error::NotFound("instance"))?;
    store
        .tenant(id)
        .await?
        .map(|t| t.id)
        .ok_or(Error::NotFound("instance"))
}

/// AddQuota: creates the instance's quota (the instance as resolved by [`instance`]) for the unit; `AlreadyExists` when it has one.
pub async fn add_quota(
    engine: &Engine,
    store: &(impl Store + InstanceStore + AggregateStore),
    actor: &Actor,
    tenant_id: Uuid,
    spec: QuotaSpec,
) -> Result<Details> {
    validate(&spec)?;
    let now = engine.now();
    if store.zitadel_quota(tenant_id, spec.unit).await?.is_some() {
        return Err(Error::AlreadyExists {
            what: "quota",
            existing: Some(spec.unit.name().to_owned()),
        });
    }
    let record = QuotaRecord {
        tenant_id,
        unit: spec.unit,
        sequence: store.next_instance_sequence(tenant_id, now).await?,
        created_at: now,
        updated_at: now,
    };
    let rules = fresh_rules(&spec.notifications);
    let limit = limit_of(tenant_id, &spec, now, now);
    let audit = quota_change(actor, None, Some((&record, &limit)), now);
    write(
        engine,
        store,
        Row::PutZitadelQuota {
            record: &record,
            replace: false,
        },
        limit,
        &rules,
        &audit,
    )
    .await?;
    Ok(details(&record))
}

/// Writes a quota's row, its limit and the limit's notification rules in one transaction.
async fn write(
    engine: &Engine,
    store: &impl AggregateStore,
    row: Row<'_>,
    limit: Limit,
    rules: &[Notification],
    audit: &AuditRecord,
) -> Result<()> {
    let (tenant_id, metric, at) = (limit.tenant_id, limit.metric.clone(), limit.updated_at);
    let id = limit.id.clone();
    let write = AggregateWrite {
        row,
        limits: Some(OwnedLimits {
            tenant_id,
            owner: id.clone(),
            limits: vec![limit],
        }),
        rules: Some(Rules {
            tenant_id,
            limit_id: &id,
            rules,
            at,
        }),
        unit: None,
        audit: Some(audit),
    };
    let written = store.write_aggregate(&write).await?;
    engine.limits_changed(tenant_id, [metric.as_str()]);
    match written {
        Written::Done => Ok(()),
        Written::Taken(id) => Err(Error::Conflict {
            message: format!("limit {id} is managed by the native API"),
            existing: Some(id),
        }),
        other => Err(Error::Internal(format!(
            "a ZITADEL quota write ended as {other:?}"
        ))),
    }
}

/// SetQuota: creates or updates the instance's quota for the unit. Nothing changed: nothing is
/// written and the current details are returned. Changed notifications are replaced as a whole,
/// with new ids; unchanged ones keep theirs (and what they already fired in this period).
pub async fn set_quota(
    engine: &Engine,
    store: &(impl Store + InstanceStore + AggregateStore),
    actor: &Actor,
    tenant_id: Uuid,
    spec: QuotaSpec,
) -> Result<Details> {
    validate(&spec)?;
    let limit_id = spec.unit.limit_id();
    let now = engine.now();
    let existing = store.zitadel_quota(tenant_id, spec.unit).await?;
    let current = match &existing {
        Some(_) => store.limit(tenant_id, &limit_id).await?,
        None => None,
    };
    let old_rules = match &current {
        Some(_) => engine.notification_rules(tenant_id, &limit_id).await?,
        None => Vec::new(),
    };
    let same_rules = sorted_specs(&old_rules) == sorted(&spec.notifications);
    if let (Some(record), Some(limit)) = (&existing, &current) {
        if same_rules && limit == &limit_of(tenant_id, &spec, limit.created_at, limit.updated_at) {
            return Ok(details(record));
        }
    }
    let rules = if same_rules && current.is_some() {
        old_rules
    } else {
        fresh_rules(&spec.notifications)
    };
    let created_at = current.as_ref().map_or(now, |l| l.created_at);
    let before = existing
        .as_ref()
        .map(|r| zitadel_quota_json(r, current.as_ref()));
    let sequence = store.next_instance_sequence(tenant_id, now).await?;
    let record = match existing {
        Some(record) => QuotaRecord {
            sequence,
            updated_at: now,
            ..record
        },
        None => QuotaRecord {
            tenant_id,
            unit: spec.unit,
            sequence,
            created_at: now,
            updated_at: now,
        },
    };
    let limit = limit_of(tenant_id, &spec, created_at, now);
    let mut audit = quota_change(actor, None, Some((&record, &limit)), now);
    if before.is_some() {
        audit = audit.restated(before, audit.after.clone());
    }
    let row = Row::PutZitadelQuota {
        record: &record,
        replace: true,
    };
    write(engine, store, row, limit, &rules, &audit).await?;
    Ok(details(&record))
}

/// RemoveQuota: deletes the quota with its usage and notification state; `NotFound` when the
/// instance has none for the unit. Notifications already due are still delivered.
pub async fn remove_quota(
    engine: &Engine,
    store: &(impl Store + InstanceStore + AggregateStore),
    actor: &Actor,
    tenant_id: Uuid,
    unit: Option<Unit>,
) -> Result<Details> {
    let unit = unit.ok_or(Error::NotFound("quota"))?;
    let record = store
        .zitadel_quota(tenant_id, unit)
        .await?
        .ok_or(Error::NotFound("quota"))?;
    let limit_id = unit.limit_id();
    let current = store.limit(tenant_id, &limit_id).await?;
    let audit = quota_change(actor, Some((&record, current.as_ref())), None, engine.now());
    let write = AggregateWrite {
        audit: Some(&audit),
        row: Row::DeleteZitadelQuota { tenant_id, unit },
        limits: Some(OwnedLimits {
            tenant_id,
            owner: limit_id,
            limits: Vec::new(),
        }),
        rules: None,
        unit: None,
    };
    let written = store.write_aggregate(&write).await?;
    engine.limits_changed(tenant_id, [unit.metric()]);
    if written != Written::Done {
        return Err(Error::NotFound("quota"));
    }
    let now = engine.now();
    Ok(Details {
        sequence: store.next_instance_sequence(record.tenant_id, now).await?,
        date: now,
        resource_owner: tenant_id,
    })
}

fn details(record: &QuotaRecord) -> Details {
    Details {
        sequence: record.sequence,
        date: record.updated_at,
        resource_owner: record.tenant_id,
    }
}

/// The engine limit behind a quota.
fn limit_of(
    tenant_id: Uuid,
    spec: &QuotaSpec,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Limit {
    let id = spec.unit.limit_id();
    Limit {
        owner: Some(id.clone()),
        per: Vec::new(),
        family: None,
        expires_at: None,
        mode: crate::domain::limit::Mode::Enforce,
        id,
        tenant_id,
        selector: Subject::default(),
        metric: spec.unit.metric().to_owned(),
        amount: Amount::Limited(i64::try_from(spec.amount).unwrap_or(MAX_AMOUNT)),
        window: Window::Anchored {
            from: spec.from,
            interval: spec.reset_interval,
        },
        blocking: spec.limit,
        created_at,
        updated_at,
    }
}

fn fresh_rules(specs: &[NotificationSpec]) -> Vec<Notification> {
    specs
        .iter()
        .map(|n| Notification {
            id: Uuid::new_v4().simple().to_string(),
            percent: n.percent,
            repeat: n.repeat,
            call_url: n.call_url.clone(),
        })
        .collect()
}

fn sorted(specs: &[NotificationSpec]) -> Vec<NotificationSpec> {
    let mut specs = specs.to_vec();
    specs.sort();
    specs
}

fn sorted_specs(rules: &[Notification]) -> Vec<NotificationSpec> {
    let specs: Vec<NotificationSpec> = rules
        .iter()
        .map(|r| NotificationSpec {
            percent: r.percent,
            call_url: r.call_url.clone(),
            repeat: r.repeat,
        })
        .collect();
    sorted(&specs)
}

#[cfg(test)]
mod tests {
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
}
