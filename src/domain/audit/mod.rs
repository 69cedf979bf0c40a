//! The audit log: one record per write to a tenant, key, limit, vendor quota, template or
//! applied quota, appended by the store in the same transaction as the change (so a write that
//! fails leaves none), and listed newest first to the tenant's admins and to operators.

mod changes;
mod json;

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::page::{PageRequest, Paged};
use super::principal::{Caller, Role};
use super::{Error, Result};

pub use changes::*;
pub use json::*;

/// Who made a change: the key and its roles, or nobody (seed files and start-up).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The key that authenticated the request; `None` for seed application and start-up.
    pub key_id: Option<String>,
    /// The key's roles, by name.
    pub roles: Vec<String>,
}

impl Actor {
    /// The actor an authenticated caller is.
    pub fn of(caller: &Caller) -> Self {
        Self {
            key_id: Some(caller.key_id.clone()),
            roles: caller
                .roles
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The server itself: seed application and start-up, with no key.
    pub fn start_up() -> Self {
        Self::default()
    }
}

/// What a change did to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Action::Create, Action::Update, Action::Delete]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// The kinds of resource the log records changes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Limit,
    Key,
    Tenant,
    ConfluentClientQuota,
    DataRobotQuota,
    DataRobotTemplate,
    ZitadelQuota,
    ZitadelLimits,
    WaldurChatQuota,
    AppliedQuota,
    AlertTarget,
    AlertRules,
}

impl ResourceType {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ResourceType; 12] = [
        ResourceType::Limit,
        ResourceType::Key,
        ResourceType::Tenant,
        ResourceType::ConfluentClientQuota,
        ResourceType::DataRobotQuota,
        ResourceType::DataRobotTemplate,
        ResourceType::ZitadelQuota,
        ResourceType::ZitadelLimits,
        ResourceType::WaldurChatQuota,
        ResourceType::AppliedQuota,
        ResourceType::AlertTarget,
        ResourceType::AlertRules,
    ];

    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Limit => "limit",
            ResourceType::Key => "key",
            ResourceType::Tenant => "tenant",
            ResourceType::ConfluentClientQuota => "confluent_client_quota",
            ResourceType::DataRobotQuota => "datarobot_quota",
            ResourceType::DataRobotTemplate => "datarobot_template",
            ResourceType::ZitadelQuota => "zitadel_quota",
            ResourceType::ZitadelLimits => "zitadel_limits",
            ResourceType::WaldurChatQuota => "waldur_chat_quota",
            ResourceType::AppliedQuota => "applied_quota",
            ResourceType::AlertTarget => "alert_target",
            ResourceType::AlertRules => "alert_rules",
        }
    }

    /// Reads a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One change, as the log keeps it. `before` and `after` never hold a secret or its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub actor: Actor,
    pub action: Action,
    pub resource_type: ResourceType,
    pub resource_id: String,
    /// The resource before the change; `None` when it did not exist.
    pub before: Option<Value>,
    /// The resource after the change; `None` when it no longer exists.
    pub after: Option<Value>,
}

impl AuditRecord {
    /// The record of a change from `before` to `after` (the action follows from which is
    /// absent), made at `at` by `actor`.
    pub fn change(
        actor: &Actor,
        tenant_id: Uuid,
        resource_type: ResourceType,
        resource_id: impl Into<String>,
        before: Option<Value>,
        after: Option<Value>,
        at: DateTime<Utc>,
    ) -> Self {
        let action = match (&before, &after) {
            (None, _) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(_), Some(_)) => Action::Update,
        };
        Self {
            // Time-ordered, so records of one instant still list in the order they were made.
            id: Uuid::now_v7(),
            // Milliseconds: the precision the store keeps, so a record reads back as written.
            at: DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at),
            tenant_id,
            actor: actor.clone(),
            action,
            resource_type,
            resource_id: resource_id.into(),
            before,
            after,
        }
    }

    /// The same record (same id, instant and actor) with the sides the store read inside the
    /// change's transaction, for a change whose result only the store knows.
    pub fn restated(&self, before: Option<Value>, after: Option<Value>) -> Self {
        Self {
            id: self.id,
            ..Self::change(
                &self.actor,
                self.tenant_id,
                self.resource_type,
                self.resource_id.clone(),
                before,
                after,
                self.at,
            )
        }
    }
}

/// Which records a listing wants; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// One tenant's records (always set for a tenant's admin).
    pub tenant_id: Option<Uuid>,
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<String>,
    /// Records at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Records before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// The longest `resource_id` a filter may name.
pub const MAX_RESOURCE_ID_CHARS: usize = 255;

impl AuditFilter {
    /// A filter from the query parameters as given; a bad one is a 400 naming the parameter.
    pub fn parse(
        tenant_id: Option<&str>,
        resource_type: Option<&str>,
        resource_id: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Self> {
        let tenant_id = tenant_id
            .map(|t| {
                Uuid::parse_str(t).map_err(|_| Error::invalid_query("tenant_id", "must be a UUID"))
            })
            .transpose()?;
        let resource_type = resource_type
            .map(|t| {
                ResourceType::parse(t).ok_or_else(|| {
                    let names: Vec<_> = ResourceType::ALL.iter().map(|t| t.as_str()).collect();
                    Error::invalid_query(
                        "resource_type",
                        format!("must be one of {}", names.join(", ")),
                    )
                })
            })
            .transpose()?;
        if let Some(id) = resource_id {
            if id.is_empty() || id.chars().count() > MAX_RESOURCE_ID_CHARS {
                return Err(Error::invalid_query(
                    "resource_id",
                    format!("must be 1 to {MAX_RESOURCE_ID_CHARS} characters"),
                ));
            }
        }
        let from = from.map(|t| instant(t, "from")).transpose()?;
        let to = to.map(|t| instant(t, "to")).transpose()?;
        Ok(Self {
            tenant_id,
            resource_type,
            resource_id: resource_id.map(str::to_owned),
            from,
            to,
        })
    }
}

/// An RFC 3339 instant given as query parameter `name`.
pub fn instant(text: &str, name: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::invalid_query(
                name,
                "must be an RFC 3339 instant, such as 2026-01-02T03:04:05Z",
            )
        })
}

/// The store's side of the log (records are appended by the writes themselves).
pub trait AuditStore: Send + Sync {
    /// Records matching `filter`, newest first (`at`, then id, descending), a page at a time.
    fn audit_page(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<AuditRecord>>> + Send;
}

/// A page of the log for `caller`: a tenant's admin reads their own tenant's records (naming
/// another tenant is a 404, as that tenant is not theirs to see); a system key reads every
/// tenant's, or one with `tenant_id`. Any other key is refused (403).
pub async fn list(
    store: &impl AuditStore,
    caller: &Caller,
    mut filter: AuditFilter,
    page: &PageRequest,
) -> Result<Paged<AuditRecord>> {
    if !caller.is_system() {
        caller.require_any(&[Role::Admin])?;
        match filter.tenant_id {
            Some(id) if id != caller.tenant_id => return Err(Error::NotFound("tenant")),
            _ => filter.tenant_id = Some(caller.tenant_id),
        }
    }
    store.audit_page(&filter, page).await
}

/// How long records are kept by default.
pub const DEFAULT_RETENTION: TimeDelta = TimeDelta::days(90);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::Roles;

    #[test]
    fn a_change_is_named_by_which_side_is_absent() {
        let actor = Actor::start_up();
        let at = Utc::now();
        let t = Uuid::new_v4();
        let one = Some(Value::from(1));
        let kind = ResourceType::Limit;
        let create = AuditRecord::change(&actor, t, kind, "l", None, one.clone(), at);
        let update = AuditRecord::change(&actor, t, kind, "l", one.clone(), one.clone(), at);
        let delete = AuditRecord::change(&actor, t, kind, "l", one, None, at);
        assert_eq!(create.action, Action::Create);
        assert_eq!(update.action, Action::Update);
        assert_eq!(delete.action, Action::Delete);
    }

    #[test]
    fn an_actor_names_its_key_and_roles() {
        let caller = Caller {
            tenant_id: Uuid::new_v4(),
            key_id: "K".into(),
            user_id: None,
            roles: Roles::default().with(Role::Admin),
        };
        let actor = Actor::of(&caller);
        assert_eq!(actor.key_id.as_deref(), Some("K"));
        assert_eq!(actor.roles, vec!["admin".to_owned()]);
        assert_eq!(Actor::start_up().key_id, None);
    }

    #[test]
    fn a_bad_filter_names_its_parameter() {
        for (args, named) in [
            ((Some("x"), None, None, None, None), "tenant_id"),
            ((None, Some("widget"), None, None, None), "resource_type"),
            ((None, None, Some(""), None, None), "resource_id"),
            ((None, None, None, Some("yesterday"), None), "from"),
            ((None, None, None, None, Some("2026-13-01T00:00:00Z")), "to"),
        ] {
            let (t, r, i, f, to) = args;
            match AuditFilter::parse(t, r, i, f, to) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field.name(), named),
                other => panic!("{named}: {other:?}"),
            }
        }
        let ok = AuditFilter::parse(
            None,
            Some("limit"),
            Some("l"),
            Some("2026-01-01T00:00:00Z"),
            None,
        )
        .expect("parses");
        assert_eq!(ok.resource_type, Some(ResourceType::Limit));
    }
}
