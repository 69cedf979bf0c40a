//! Changing the catalogue and the applied limits: operator-defined codes, adjustments of an
//! applied limit (what Confluent does through its support), and their audit.

use crate::domain::aggregate::{AggregateStore, AggregateWrite, Carry, Row, Written};
use crate::domain::usage::batch::NEVER;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::defaults::counter;
use super::service::amount_of;
use super::{
    Adjustment, Applied, AuditEntry, AuditRecord, CodeDefinition, QuotaCode, ScopeRef,
    ServiceQuotas, check_code, check_display_name, check_limit, default_limit, documented,
    is_builtin, limit_id, own_limit, partition,
};
use crate::domain::audit::{self, Actor, ResourceType, limit_json};
use crate::domain::limit::Amount;
use crate::domain::ports::*;
use crate::domain::principal::{Caller, Role};
use crate::domain::{Error, Field, Result};

impl<S: EngineStore + AggregateStore> ServiceQuotas<'_, S> {
    /// Sets the applied limit of a code at a scope reference; audited with the caller's key.
    pub async fn adjust(
        &self,
        caller: &Caller,
        code: &str,
        change: Adjustment,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        caller.require_any(&[Role::Admin])?;
        let tenant_id = target(caller, change.organization)?;
        if self.store.tenant(tenant_id).await?.is_none() {
            return Err(Error::NotFound("organization"));
        }
        let code = self.code(code).await?;
        if change.scope != code.scope {
            return Err(Error::invalid_body(
                "/scope",
                format!("the scope of {} is {}", code.code, code.scope.name()),
            ));
        }
        let applied_limit = check_limit(change.applied_limit, "/applied_limit")?;
        let reference = ScopeRef::of(code.scope, &change.references, |k, m| {
            Error::invalid_body(format!("/{k}"), m)
        })?;
        let default = default_limit(&code, tenant_id, 0, now);
        self.ensure_default(&Actor::of(caller), tenant_id, &code, None)
            .await?;
        let own_id = limit_id(&code.code, &reference);
        // The reference's own limit (an organization-wide code's is its default), if it has one;
        // else the default governs it, at the code's default.
        let stored = self.store.limit(tenant_id, &own_id).await?;
        let old_limit = stored
            .as_ref()
            .map_or(code.default_limit, |limit| amount_of(limit.amount, &code));
        // The limited party may lower its ceiling, never lift it: above the code's default (and
        // above what it is now) only the operator raises it.
        let ceiling = old_limit.max(code.default_limit);
        if !caller.is_system() && applied_limit > ceiling {
            return Err(Error::Forbidden(format!(
                "only the operator raises {} above {ceiling}",
                code.code
            )));
        }
        let before = stored.as_ref().map(limit_json);
        let mut limit = match stored {
            Some(limit) => limit,
            None => own_limit(&code, tenant_id, &reference, applied_limit, now),
        };
        limit.amount = Amount::Limited(applied_limit);
        limit.updated_at = now;
        let audit = AuditEntry {
            id: Uuid::new_v4(),
            tenant_id,
            code: code.code.clone(),
            reference: reference.clone(),
            old_limit,
            new_limit: applied_limit,
            key_id: caller.key_id.clone(),
            at: now,
        };
        // The applied-quota record (the service-quota surface's own listing) and the audit
        // log's record both commit with the new amount, or none does.
        let logged = audit::AuditRecord::change(
            &Actor::of(caller),
            tenant_id,
            ResourceType::AppliedQuota,
            own_id.clone(),
            before.clone(),
            Some(limit_json(&limit)),
            now,
        );
        // A reference getting its own limit takes its count on the default along.
        let carries = match (&before, own_id == default.id) {
            (None, false) => vec![Carry {
                from: counter(tenant_id, &default.id, partition(&code, &reference)),
                to: counter(tenant_id, &own_id, String::new()),
                period_end: NEVER,
                at_ms: now.timestamp_millis(),
            }],
            _ => Vec::new(),
        };
        let write = AggregateWrite {
            carries,
            audit: Some(&logged),
            ..AggregateWrite::of(Row::AdjustAppliedQuota {
                limit: &limit,
                audit: Some(&audit),
                default_id: (own_id != default.id).then_some(default.id.as_str()),
            })
        };
        let written = self.store.write_aggregate(&write).await?;
        self.engine.limits_changed(tenant_id, [code.code.as_str()]);
        if written != Written::Done {
            return Err(Error::Conflict {
                message: format!("limit {own_id} is not this applied quota's"),
                existing: None,
            });
        }
        self.applied(tenant_id, &code, reference).await
    }

    /// Defines (or redefines) an operator code (system keys); built-in codes cannot be.
    pub async fn define(
        &self,
        caller: &Caller,
        code: &str,
        definition: CodeDefinition,
        now: DateTime<Utc>,
    ) -> Result<(QuotaCode, bool)> {
        caller.require_system()?;
        check_code(code, "/code").map_err(|e| match e {
            Error::Invalid { message, .. } => Error::Invalid {
                field: Field::Path("code".into()),
                message,
            },
            other => other,
        })?;
        if is_builtin(code) {
            return Err(Error::Conflict {
                message: format!("{code} is one of quotaplane's own codes"),
                existing: None,
            });
        }
        check_display_name(&definition.display_name, "/display_name")?;
        let quota_code = QuotaCode {
            code: code.to_owned(),
            scope: definition.scope,
            display_name: definition.display_name,
            default_limit: check_limit(definition.default_limit, "/default_limit")?,
            builtin: false,
        };
        let earlier = self
            .store
            .service_quota_codes()
            .await?
            .into_iter()
            .find(|c| c.code == code)
            .or_else(|| documented(code));
        if let Some(earlier) = &earlier {
            if earlier.scope != quota_code.scope {
                return Err(Error::Conflict {
                    message: format!(
                        "the scope of {code} is {}: a code's scope cannot change",
                        earlier.scope.name()
                    ),
                    existing: None,
                });
            }
        }
        // A documented code is in the catalogue before it is first stored: redefining it is a
        // change, not a creation.
        let created = self.store.put_service_quota_code(&quota_code, now).await?
            && documented(code).is_none();
        // Every tenant's default of the code at once; an organization-wide one adjusted since
        // the earlier default keeps its amount.
        let earlier_default = earlier.map(|e| e.default_limit);
        for tenant in self.store.tenants().await? {
            self.ensure_default(&Actor::of(caller), tenant.id, &quota_code, earlier_default)
                .await?;
        }
        Ok((quota_code, created))
    }

    /// The recorded changes of the applied limits of `code` in a tenant (its admins, or system
    /// keys for any tenant).
    pub async fn adjustments(
        &self,
        caller: &Caller,
        organization: Option<Uuid>,
        code: &str,
    ) -> Result<Vec<AuditRecord>> {
        caller.require_any(&[Role::Admin])?;
        let tenant_id = target(caller, organization)?;
        let code = self.code(code).await?;
        self.store
            .service_quota_adjustments(tenant_id, &code.code)
            .await
    }
}

/// The tenant a call acts on: the one named (system keys may name any, admins only their own;
/// another is not found), else the caller's.
fn target(caller: &Caller, organization: Option<Uuid>) -> Result<Uuid> {
    match organization {
        Some(id) if id != caller.tenant_id && !caller.is_system() => {
            Err(Error::NotFound("organization"))
        }
        Some(id) => Ok(id),
        None => Ok(caller.tenant_id),
    }
}
