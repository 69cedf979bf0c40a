//! Changing the catalogue and the applied limits: operator-defined codes, adjustments of an
//! applied limit (what Confluent does through its support), and their audit.

use crate::domain::aggregate::{AggregateStore, AggregateWrite, Row, Written};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::service::amount_of;
use super::{
    Adjustment, Applied, AuditEntry, AuditRecord, CodeDefinition, QuotaCode, ScopeRef,
    ServiceQuotas, builtin, check_code, check_display_name, check_limit, documented, limit_id,
    owner_of,
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
        self.limits
            .ensure(self.engine, tenant_id, &code, &reference)
            .await?;
        let id = limit_id(&code.code, &reference);
        let mut limit = self
            .store
            .limit(tenant_id, &id)
            .await?
            .ok_or(Error::NotFound("applied quota"))?;
        let before = limit_json(&limit);
        let old_limit = amount_of(&limit, &code);
        // The limited party may lower its ceiling, never lift it: above the code's default (and
        // above what it is now) only the operator raises it.
        let ceiling = old_limit.max(code.default_limit);
        if !caller.is_system() && applied_limit > ceiling {
            return Err(Error::Forbidden(format!(
                "only the operator raises {} above {ceiling}",
                code.code
            )));
        }
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
            id.clone(),
            Some(before),
            Some(limit_json(&limit)),
            now,
        );
        let write = AggregateWrite {
            carries: Vec::new(),
            row: Row::AdjustAppliedQuota {
                limit: &limit,
                audit: &audit,
            },
            limits: None,
            rules: None,
            unit: None,
            audit: Some(&logged),
        };
        let written = self.store.write_aggregate(&write).await?;
        self.engine.limits_changed(tenant_id, [code.code.as_str()]);
        if written != Written::Done {
            return Err(Error::Conflict {
                message: format!("limit {id} is not this applied quota's"),
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
        if builtin(code).is_some() {
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
        self.limits.learn(&quota_code);
        if let Some(earlier) = earlier.filter(|e| e.default_limit != quota_code.default_limit) {
            self.follow_default(&Actor::of(caller), &earlier, &quota_code, now)
                .await?;
        }
        Ok((quota_code, created))
    }

    /// Moves every limit of `code` still at the old default, and never adjusted, to the new one.
    async fn follow_default(
        &self,
        actor: &Actor,
        earlier: &QuotaCode,
        code: &QuotaCode,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let owner = owner_of(&code.code);
        for tenant in self.store.tenants().await? {
            let adjusted: Vec<_> = self
                .store
                .service_quota_adjustments(tenant.id, &code.code)
                .await?
                .into_iter()
                .map(|record| record.reference)
                .collect();
            for mut limit in self.store.limits(tenant.id).await? {
                let reference = ScopeRef::from_selector(&limit.selector);
                let untouched = limit.owner.as_deref() == Some(owner.as_str())
                    && limit.amount == Amount::Limited(earlier.default_limit)
                    && !adjusted.iter().any(|r| r == reference.as_map());
                if untouched {
                    limit.amount = Amount::Limited(code.default_limit);
                    limit.updated_at = now;
                    self.engine.put_limit(&limit, actor).await?;
                }
            }
        }
        Ok(())
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
