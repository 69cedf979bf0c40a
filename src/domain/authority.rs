//! Who may move which counters and see which limits, inside a tenant: the one table of authority
//! (the README shows it as "operation x role x owner").
//!
//! Every limit has an owner: the native API, or the surface whose quota it belongs to. Counting
//! (`check`, `consume`, `lease`) goes against every limit that applies: that is what limits are
//! for. Setting a level (`report`) needs `admin` or `reporter`, and never touches what a surface
//! counts itself. Native limit ids never take an id a surface uses.

use super::limit::Limit;
use super::ports::EngineStore;
use super::principal::{Caller, Role};
use super::usage::{Applying, CachedLimit, Engine, Usage};
use super::{Error, Field, Result, confluent, service_quota, waldur, zitadel};

/// Who owns a limit, by the prefix of its `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    Native,
    Confluent,
    ServiceQuota,
    DataRobot,
    Zitadel,
    Waldur,
}

impl OwnerKind {
    /// The kind of a limit's `owner` (`None`: native).
    pub fn of(owner: Option<&str>) -> Self {
        let Some(owner) = owner else {
            return OwnerKind::Native;
        };
        match owner.split_once(':').map_or(owner, |(kind, _)| kind) {
            "confluent" => OwnerKind::Confluent,
            "service-quota" => OwnerKind::ServiceQuota,
            "datarobot" => OwnerKind::DataRobot,
            "waldur" => OwnerKind::Waldur,
            "zitadel" => OwnerKind::Zitadel,
            _ => OwnerKind::Native,
        }
    }

    /// The name `/metrics` and error messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Native => "native",
            OwnerKind::Confluent => "confluent",
            OwnerKind::ServiceQuota => "service-quota",
            OwnerKind::DataRobot => "datarobot",
            OwnerKind::Zitadel => "zitadel",
            OwnerKind::Waldur => "waldur",
        }
    }
}

/// The ids surfaces give their limits. A native limit may not take one: a tenant would otherwise
/// squat the id of a quota its operator creates later.
const SURFACE_ID_PREFIXES: [&str; 5] = [
    "confluent.",
    "service-quota.",
    "datarobot:",
    "zitadel:",
    "waldur-chat-",
];

/// Refuses a native limit id in a surface's namespace.
pub fn check_native_limit_id(id: &str) -> Result<()> {
    if id == "effective" {
        return Err(Error::Invalid {
            field: Field::Path("id".into()),
            message: "is reserved: /v1/limits/effective answers which limits apply".into(),
        });
    }
    match SURFACE_ID_PREFIXES.iter().find(|p| id.starts_with(**p)) {
        Some(prefix) => Err(Error::Invalid {
            field: Field::Path("id".into()),
            message: format!("ids starting with '{prefix}' belong to a vendor surface"),
        }),
        None => Ok(()),
    }
}

/// Refuses a native limit's family in a surface's namespace: a native limit of a surface's
/// family would replace the surface's limits for the subjects it selects (lift an operator's
/// ceiling, say), so families take the same prefixes as ids, and Confluent's own.
pub fn check_native_family(family: Option<&str>) -> Result<()> {
    let Some(family) = family else {
        return Ok(());
    };
    let taken = SURFACE_ID_PREFIXES
        .iter()
        .copied()
        .chain([confluent::FAMILY])
        .find(|p| family.starts_with(*p));
    match taken {
        Some(prefix) => Err(Error::Invalid {
            field: Field::Body("/family".into()),
            message: format!("families starting with '{prefix}' belong to a vendor surface"),
        }),
        None => Ok(()),
    }
}

/// What a usage request does to counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageAct {
    /// `check`: reads.
    Check,
    /// `consume` and `lease`: count units against every limit that applies.
    Count,
    /// `report`: sets a level.
    SetLevel,
}

/// Whether a metric's usage is counted by quotaplane itself (its own resources, the ZITADEL
/// request meter) or by a surface's clients through its own path (Kafka byte rates): no `report`
/// may set it.
fn counted_by_a_surface(metric: &str) -> bool {
    metric == zitadel::REQUESTS_METRIC
        || metric == confluent::INGRESS_METRIC
        || metric == confluent::EGRESS_METRIC
        || service_quota::is_builtin(metric)
}

/// Refuses a usage request the caller may not make; `applying` are the limits it would touch.
pub fn authorize_usage(
    caller: &Caller,
    act: UsageAct,
    usage: &Usage,
    applying: &[&CachedLimit],
) -> Result<()> {
    if usage.metric == waldur::METRIC && !acts_for_every_user(caller) {
        let named = usage
            .subject
            .get(waldur::USER_KEY)
            .and_then(waldur::parse_user);
        if named.is_none() || named != caller.user_id {
            return Err(Error::Forbidden(format!(
                "this key may use {} only for its own user_id",
                waldur::METRIC
            )));
        }
    }
    if service_quota::is_builtin(&usage.metric) && act != UsageAct::Check {
        return Err(Error::Forbidden(format!(
            "{} counts quotaplane's own resources: only quotaplane moves it",
            usage.metric
        )));
    }
    if act == UsageAct::SetLevel {
        caller.require_any(&[Role::Admin, Role::Reporter])?;
        if counted_by_a_surface(&usage.metric) {
            return Err(Error::Forbidden(format!(
                "{} is counted by quotaplane; report may not set it",
                usage.metric
            )));
        }
        if let Some(limit) = applying.iter().find(|l| {
            matches!(
                OwnerKind::of(l.shape.owner.as_deref()),
                OwnerKind::Zitadel | OwnerKind::Confluent
            ) && counted_by_a_surface(&l.shape.metric)
        }) {
            return Err(Error::Forbidden(format!(
                "limit {} is counted by quotaplane; report may not set it",
                limit.id
            )));
        }
    }
    Ok(())
}

/// [`authorize_usage`] against the limits that apply to `usage` now: those limits, for the
/// engine to count the usage against.
pub async fn authorize(
    engine: &Engine<impl EngineStore>,
    caller: &Caller,
    act: UsageAct,
    usage: &Usage,
) -> Result<Applying> {
    let applying = engine.applying(caller.tenant_id, usage).await?;
    let limits: Vec<&CachedLimit> = applying.limits().collect();
    authorize_usage(caller, act, usage, &limits)?;
    Ok(applying)
}

/// Whether the caller may act for any user of its tenant (else only for its own `user_id`).
fn acts_for_every_user(caller: &Caller) -> bool {
    caller.is_system() || caller.roles.any(&[Role::Admin, Role::Staff])
}

/// Whether the caller may see `limit`: admins see every limit of their tenant; other keys see
/// native limits, and limits whose selector names their own `user_id`.
pub fn may_see(caller: &Caller, limit: &Limit) -> bool {
    sees(caller, limit.owner.as_deref(), limit.selector.pairs())
}

/// [`may_see`] for a limit as the limit cache holds it.
pub fn may_see_cached(caller: &Caller, limit: &CachedLimit) -> bool {
    sees(
        caller,
        limit.shape.owner.as_deref(),
        limit.selector().pairs(),
    )
}

fn sees<'a>(
    caller: &Caller,
    owner: Option<&str>,
    mut pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> bool {
    if caller.is_system() || caller.roles.contains(Role::Admin) {
        return true;
    }
    if OwnerKind::of(owner) == OwnerKind::Native {
        return true;
    }
    let Some(user) = caller.user_id else {
        return false;
    };
    pairs.any(|(_, v)| waldur::parse_user(v) == Some(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_told_apart_by_their_prefix() {
        assert_eq!(OwnerKind::of(None), OwnerKind::Native);
        assert_eq!(OwnerKind::of(Some("confluent:cq-1")), OwnerKind::Confluent);
        assert_eq!(
            OwnerKind::of(Some("service-quota:iam.max_api_keys.per_org")),
            OwnerKind::ServiceQuota
        );
        assert_eq!(OwnerKind::of(Some("datarobot:q1")), OwnerKind::DataRobot);
        assert_eq!(
            OwnerKind::of(Some("zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED")),
            OwnerKind::Zitadel
        );
        assert_eq!(OwnerKind::of(Some("waldur:u")), OwnerKind::Waldur);
    }

    #[test]
    fn native_ids_stay_out_of_every_surfaces_namespace() {
        assert!(check_native_limit_id("zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED").is_err());
        assert!(check_native_limit_id("confluent.cq-1.sa-1.kafka_ingress_bytes").is_err());
        assert!(check_native_limit_id("service-quota.iam.max_api_keys.per_org").is_err());
        assert!(check_native_limit_id("datarobot:q1:saturation").is_err());
        assert!(check_native_limit_id("waldur-chat-daily-x").is_err());
        assert!(check_native_limit_id("search-per-user").is_ok());
    }

    #[test]
    fn native_limits_may_not_join_a_surfaces_family() {
        for family in [
            "confluent-client-quota",
            "datarobot:q1:requests",
            "service-quota.iam.max_api_keys.per_org",
            "waldur-chat-daily",
            "zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED",
        ] {
            assert!(check_native_family(Some(family)).is_err(), "{family}");
        }
        assert!(check_native_family(Some("users")).is_ok());
        assert!(check_native_family(None).is_ok());
    }
}
