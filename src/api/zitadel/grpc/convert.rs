//! Translations between the gRPC messages and the domain (and the REST mapping's inputs, so both
//! transports go through the same rules).

use chrono::{DateTime, Utc};
use prost_types::{Duration, Timestamp};
use tonic::Status;

use super::proto::zitadel::instance::v1 as instance;
use super::proto::zitadel::v1::ObjectDetails;
use super::status;
use crate::api::zitadel::dto::{
    Request as Kind, SystemServiceAddQuotaBody, Uint, V1Notification, V1Unit,
};
use crate::domain::zitadel::{Details, QuotaSpec};
use crate::domain::zitadel_instance::{Instance, LimitsChange};
use crate::domain::{Error, Result};

/// Longest instance id a request may carry (the proto's `max_len`).
const MAX_INSTANCE_ID_CHARS: usize = 200;

/// The proto-level rule on `instance_id` (1 to 200 characters), worded as protoc-gen-validate
/// words it for `message`.
pub fn check_instance_id(message: &str, id: &str) -> std::result::Result<(), Status> {
    if (1..=MAX_INSTANCE_ID_CHARS).contains(&id.chars().count()) {
        return Ok(());
    }
    Err(status(
        Error::invalid_body(
            "/instanceId",
            format!(
                "invalid {message}.InstanceId: value length must be between 1 and 200 runes, inclusive"
            ),
        ),
        id,
    ))
}

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn created(d: &Details) -> Option<ObjectDetails> {
    Some(ObjectDetails {
        sequence: u64::try_from(d.sequence).unwrap_or(0),
        creation_date: Some(timestamp(d.date)),
        change_date: None,
        resource_owner: d.resource_owner.to_string(),
    })
}

pub fn changed(d: &Details) -> Option<ObjectDetails> {
    Some(ObjectDetails {
        sequence: u64::try_from(d.sequence).unwrap_or(0),
        creation_date: None,
        change_date: Some(timestamp(d.date)),
        resource_owner: d.resource_owner.to_string(),
    })
}

/// A protobuf Duration as its JSON text, so the REST mapping's rules read it.
pub fn duration_text(d: &Duration) -> String {
    match d.nanos {
        0 => format!("{}s", d.seconds),
        n => format!("{}.{:09}s", d.seconds, n.unsigned_abs()),
    }
}

/// The quota a message asks for, through the same proto-level rules as the REST body.
#[allow(clippy::too_many_arguments)]
pub fn spec(
    kind: Kind,
    unit: i32,
    from: Option<Timestamp>,
    reset_interval: Option<Duration>,
    amount: u64,
    limit: bool,
    notifications: Vec<super::proto::zitadel::quota::v1::Notification>,
) -> Result<QuotaSpec> {
    let from = match from {
        Some(t) => Some(
            DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
                .ok_or_else(|| Error::invalid_body("/from", "invalid timestamp"))?
                .to_rfc3339(),
        ),
        None => None,
    };
    SystemServiceAddQuotaBody {
        unit: Some(V1Unit::Number(i64::from(unit))),
        from,
        reset_interval: reset_interval.as_ref().map(duration_text),
        amount: Some(Uint::Number(amount)),
        limit: Some(limit),
        notifications: Some(
            notifications
                .into_iter()
                .map(|n| V1Notification {
                    percent: Some(Uint::Number(u64::from(n.percent))),
                    repeat: Some(n.repeat),
                    call_url: Some(n.call_url),
                })
                .collect(),
        ),
    }
    .into_spec(kind)
}

pub fn limits_change(retention: Option<&Duration>, block: Option<bool>) -> Result<LimitsChange> {
    let audit_log_retention = match retention {
        Some(d) => Some(crate::api::zitadel::dto::duration_of(
            &duration_text(d),
            "/auditLogRetention",
        )?),
        None => None,
    };
    Ok(LimitsChange {
        audit_log_retention,
        block,
    })
}

pub fn instance_detail(i: &Instance) -> instance::InstanceDetail {
    instance::InstanceDetail {
        id: i.tenant.id.to_string(),
        details: Some(ObjectDetails {
            sequence: u64::try_from(i.sequence).unwrap_or(0),
            creation_date: Some(timestamp(i.tenant.created_at)),
            change_date: Some(timestamp(i.changed_at)),
            resource_owner: i.tenant.id.to_string(),
        }),
        state: instance::State::Running as i32,
        name: i.tenant.name.as_str().to_owned(),
        version: env!("CARGO_PKG_VERSION").into(),
        domains: Vec::new(),
        limits: i.limits.as_ref().map(|l| instance::InstanceLimits {
            audit_log_retention: l.audit_log_retention.map(|r| Duration {
                seconds: r.num_seconds(),
                nanos: 0,
            }),
            block: l.block,
        }),
    }
}

pub fn as_listed(d: instance::InstanceDetail) -> instance::Instance {
    instance::Instance {
        id: d.id,
        details: d.details,
        state: d.state,
        name: d.name,
        version: d.version,
        domains: d.domains,
    }
}
