//! DataRobot entries of a seed file: quota templates (with fixed ids) and quotas in DataRobot's
//! own `POST /api/v2/quotas/` shape, identified by their resource.

use uuid::Uuid;

use super::apply::{Outcome, domain, seeder};
use super::file::SeedTemplate;
use crate::api::datarobot::dto::QuotaCreate;
use crate::domain::audit::{self, Actor};
use crate::domain::datarobot::Template;
use crate::domain::datarobot::service::{self, NewQuota, QuotaChanges};
use crate::domain::limit::check_name;
use crate::domain::ports::*;
use crate::domain::principal::Role;
use crate::domain::{Error, Result};
use crate::state::AppState;

/// A template with the seed's id: created, replaced when its name or rules changed, or left.
pub(super) async fn template(
    state: &AppState,
    tenant_id: Uuid,
    seed: &SeedTemplate,
) -> Result<Outcome> {
    check_name(&seed.id, "/id")?;
    let now = state.clock.now();
    let existing = state.store.datarobot_template(tenant_id, &seed.id).await?;
    if let Some(old) = &existing {
        if old.name == seed.body.name && old.rules == seed.body.rules {
            return Ok(Outcome::Unchanged);
        }
    }
    // The service makes ids; a seed fixes them, so the template is checked and stored as the
    // service would.
    let template = Template {
        id: seed.id.clone(),
        tenant_id,
        name: seed.body.name.clone(),
        rules: seed.body.rules.clone(),
        created_at: existing.as_ref().map_or(now, |t| t.created_at),
        updated_at: now,
    };
    template.validate()?;
    let audit = audit::datarobot_template_change(
        &Actor::start_up(),
        existing.as_ref(),
        Some(&template),
        now,
    );
    state
        .store
        .put_datarobot_template(&template, &audit)
        .await?;
    Ok(if existing.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}

/// A quota for a resource: created through the DataRobot service, updated when its rules,
/// policies, capacity or saturation threshold changed, or left.
pub(super) async fn quota(
    state: &AppState,
    tenant_id: Uuid,
    body: &serde_json::Value,
) -> Result<Outcome> {
    let text = serde_json::to_vec(body).map_err(|e| Error::invalid_body("", e.to_string()))?;
    let body: QuotaCreate = crate::http::json::parse_json(&text).map_err(domain)?;
    let caller = seeder(tenant_id, &[Role::Admin]);
    let now = state.clock.now();
    let existing = state
        .store
        .datarobot_quota_for(tenant_id, &body.resource_type, &body.resource_id)
        .await?;
    let Some(old) = existing else {
        let new = NewQuota {
            resource_type: body.resource_type,
            resource_id: body.resource_id,
            default_rules: body.default_rules,
            template_id: body.template_id,
            policies: body.policies.unwrap_or_default(),
            capacity: body.capacity,
            saturation_threshold: body.saturation_threshold,
        };
        service::create_quota(
            &state.store,
            &state.engine,
            &caller,
            &Actor::start_up(),
            new,
            now,
        )
        .await?;
        return Ok(Outcome::Created);
    };
    let default_rules = match (body.default_rules, body.template_id) {
        (Some(rules), None) => rules,
        (None, Some(id)) => {
            service::template(&state.store, &caller, &id)
                .await
                .map_err(|_| Error::invalid_body("/templateId", "no quota template has this id"))?
                .rules
        }
        _ => {
            return Err(Error::invalid_body(
                "/defaultRules",
                "give either defaultRules or templateId",
            ));
        }
    };
    let policies = body.policies.unwrap_or_default();
    let same = old.default_rules == default_rules
        && old.policies == policies
        && old.capacity == body.capacity
        && old.saturation_threshold == body.saturation_threshold;
    if same {
        return Ok(Outcome::Unchanged);
    }
    let changes = QuotaChanges {
        default_rules: Some(default_rules),
        policies: Some(policies),
        capacity: Some(body.capacity),
        saturation_threshold: Some(body.saturation_threshold),
    };
    service::update_quota(
        &state.store,
        &state.engine,
        &caller,
        &Actor::start_up(),
        &old.id,
        changes,
        now,
    )
    .await?;
    Ok(Outcome::Updated)
}
