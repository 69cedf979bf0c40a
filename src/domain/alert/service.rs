//! The alert services: webhook targets with their signing key, and a limit's alert rules, each
//! write with its audit record.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::audit::{Actor, AuditRecord, ResourceType};
use crate::domain::notification::{Notification, Threshold};
use crate::domain::ports::EngineStore;
use crate::domain::usage::Engine;
use crate::domain::{Error, Result};

/// The name under which a generated server key is kept in the store.
const KEY_NAME: &str = "webhook_signing_key";

/// The server key targets' secrets derive from: the configured one, or one generated once and
/// kept in the store (the same on every replica), read once per process.
#[derive(Debug, Default)]
pub struct SigningKey {
    configured: Option<Vec<u8>>,
    kept: tokio::sync::OnceCell<Vec<u8>>,
}

impl SigningKey {
    /// A key from `--webhook-signing-key` (its bytes as given), or `None` to keep one in the
    /// store.
    pub fn new(configured: Option<&str>) -> Self {
        Self {
            configured: configured.map(|k| k.as_bytes().to_vec()),
            kept: tokio::sync::OnceCell::new(),
        }
    }

    /// The key.
    pub async fn get(
        &self,
        store: &impl crate::domain::ports::ConfluentStore,
        now: DateTime<Utc>,
    ) -> Result<&[u8]> {
        if let Some(key) = &self.configured {
            return Ok(key);
        }
        self.kept
            .get_or_try_init(|| async {
                use rand::RngCore;
                let mut candidate = vec![0u8; 32];
                rand::rng().fill_bytes(&mut candidate);
                store.confluent_secret(KEY_NAME, &candidate, now).await
            })
            .await
            .map(Vec::as_slice)
    }

    /// The secret of `target_id`.
    pub async fn secret_of(
        &self,
        store: &impl crate::domain::ports::ConfluentStore,
        target_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>> {
        target_secret(self.get(store, now).await?, target_id)
    }
}

/// A target as the audit log keeps it (never its secret).
fn target_json(t: &AlertTarget) -> serde_json::Value {
    serde_json::json!({"id": t.id, "url": t.url})
}

/// A limit's alert rules as the audit log keeps them.
fn rules_json(rules: &[Notification]) -> serde_json::Value {
    rules
        .iter()
        .map(|r| {
            let threshold = match r.threshold {
                Threshold::Percent(p) => serde_json::json!({"percent": p}),
                Threshold::Units(u) => serde_json::json!({"units": u}),
            };
            serde_json::json!({"id": r.id, "threshold": threshold, "repeat": r.repeat,
                "target_id": r.webhook()})
        })
        .collect()
}

/// Adds a webhook target to its tenant (within [`MAX_TARGETS`]), its URL checked: the target
/// and its secret, to show once.
pub async fn add_target(
    store: &(impl AlertStore + crate::domain::ports::ConfluentStore),
    actor: &Actor,
    key: &SigningKey,
    target: AlertTarget,
    allow_private: bool,
    public: impl Fn(IpAddr) -> bool,
) -> Result<(AlertTarget, String)> {
    check_url(&target.url, allow_private, public)?;
    let (tenant_id, now) = (target.tenant_id, target.created_at);
    let secret = key.secret_of(store, target.id, now).await?;
    let audit = AuditRecord::change(
        actor,
        tenant_id,
        ResourceType::AlertTarget,
        target.id.to_string(),
        None,
        Some(target_json(&target)),
        now,
    );
    if !store
        .insert_alert_target(&target, MAX_TARGETS, &audit)
        .await?
    {
        return Err(Error::LimitReached {
            message: format!("a tenant may have at most {MAX_TARGETS} alert targets"),
        });
    }
    Ok((target, secret_text(&secret)))
}

/// Deletes a target; refused while alert rules use it.
pub async fn delete_target(
    store: &impl AlertStore,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let before = store.alert_target(tenant_id, id).await?;
    let audit = AuditRecord::change(
        actor,
        tenant_id,
        ResourceType::AlertTarget,
        id.to_string(),
        before.as_ref().map(target_json),
        None,
        now,
    );
    match store.delete_alert_target(tenant_id, id, &audit).await? {
        None => Err(Error::NotFound("alert target")),
        Some(limits) if limits.is_empty() => Ok(()),
        Some(limits) => Err(Error::Conflict {
            message: format!(
                "the target is used by alert rules of the limits {}",
                limits.join(", ")
            ),
            existing: Some(id.to_string()),
        }),
    }
}

/// Replaces the alert rules of a limit the caller can see; the rules stored.
pub async fn replace_rules<S: EngineStore + AlertStore>(
    engine: &Engine<S>,
    store: &S,
    actor: &Actor,
    tenant_id: Uuid,
    limit_id: &str,
    input: Vec<RuleInput>,
) -> Result<Vec<Notification>> {
    let limit = store
        .limit(tenant_id, limit_id)
        .await?
        .ok_or(Error::NotFound("limit"))?;
    let targets = store.alert_targets(tenant_id).await?;
    let rules = parse_rules(input, &targets)?;
    let before = store.alert_rules_of(tenant_id, limit_id).await?;
    let audit = AuditRecord::change(
        actor,
        tenant_id,
        ResourceType::AlertRules,
        limit_id,
        (!before.is_empty()).then(|| rules_json(&before)),
        (!rules.is_empty()).then(|| rules_json(&rules)),
        engine.now(),
    );
    store
        .replace_alert_rules(tenant_id, limit_id, &rules, engine.now(), &audit)
        .await?;
    engine.limits_changed(tenant_id, [limit.metric.as_str()]);
    Ok(rules)
}
