//! Applying a seed file: each entry through the domain service its surface uses, compared first
//! with what is stored so a second run with the same file writes nothing.

use crate::domain::aggregate::{AggregateStore, AggregateWrite, Row};
use crate::domain::audit::{self, Actor};
use uuid::Uuid;

use super::file::{SeedFile, SeedKey, SeedLimit, SeedTenant};
use crate::api::waldur::parse_set_quota;
use crate::api::zitadel::{Request, SystemServiceAddQuotaBody};
use crate::domain::limit::check_name;
use crate::domain::ports::*;
use crate::domain::principal::{ApiKey, Caller, Role, Roles, SecretHash};
use crate::domain::service_quota::{self, ScopeRef};
use crate::domain::tenant::{Tenant, TenantName};
use crate::domain::waldur::Period;
use crate::domain::{Error, Field, Result, zitadel};
use crate::http::error::{ApiError, Failure};
use crate::state::AppState;

/// How many entries a run created, changed, or found as the file says.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What happened to one entry.
pub(super) enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Applied {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// Longest seeded key id.
const MAX_KEY_ID_CHARS: usize = 64;
/// Shortest seeded secret.
const MIN_SECRET_CHARS: usize = 16;

/// Applies `seed` to `state`'s store, tenant by tenant, entry by entry, in file order. Each
/// tenant's entries commit in one transaction, so the first bad entry stops the run with an
/// `Invalid` error naming the entry and its field and leaves that tenant as it was (tenants
/// before it stay applied).
pub async fn apply(state: &AppState, seed: &SeedFile) -> Result<Applied> {
    let mut applied = Applied::default();
    for (t, tenant) in seed.tenants.iter().enumerate() {
        let at = format!("tenants[{t}] ({})", tenant.name);
        let (store, scope) = state.store.begin_scope().await?;
        let scoped = AppState::with_clock(store, state.settings.clone(), state.clock.clone());
        let outcome = apply_tenant(&scoped, tenant, &at).await;
        drop(scoped);
        match outcome {
            Ok(counts) => {
                scope.commit().await.map_err(|e| named(&at, e))?;
                applied.created += counts.created;
                applied.updated += counts.updated;
                applied.unchanged += counts.unchanged;
            }
            Err(e) => {
                scope.rollback().await;
                return Err(e);
            }
        }
        for key in &tenant.keys {
            state.keys.evict(&key.id);
        }
    }
    Ok(applied)
}

/// One tenant's entries, through `state` (whose store is the tenant's transaction).
async fn apply_tenant(state: &AppState, tenant: &SeedTenant, at: &str) -> Result<Applied> {
    let mut applied = Applied::default();
    applied.count(
        ensure_tenant(state, tenant)
            .await
            .map_err(|e| named(at, e))?,
    );
    for (i, key) in tenant.keys.iter().enumerate() {
        let at = format!("{at}.keys[{i}] (id {})", key.id);
        applied.count(
            ensure_key(state, tenant.id, key)
                .await
                .map_err(|e| named(&at, e))?,
        );
    }
    for (i, limit) in tenant.limits.iter().enumerate() {
        let at = format!("{at}.limits[{i}] (id {})", limit.id);
        applied.count(
            ensure_limit(state, tenant.id, limit)
                .await
                .map_err(|e| named(&at, e))?,
        );
    }
    for (i, body) in tenant.confluent_client_quotas.iter().enumerate() {
        let at = format!("{at}.confluent_client_quotas[{i}]");
        let outcome = super::confluent::client_quota(state, tenant.id, body).await;
        applied.count(outcome.map_err(|e| named(&at, e))?);
    }
    for (i, seed) in tenant.datarobot_templates.iter().enumerate() {
        let at = format!("{at}.datarobot_templates[{i}] (id {})", seed.id);
        let outcome = super::datarobot::template(state, tenant.id, seed).await;
        applied.count(outcome.map_err(|e| named(&at, e))?);
    }
    for (i, body) in tenant.datarobot_quotas.iter().enumerate() {
        let at = format!("{at}.datarobot_quotas[{i}]");
        let outcome = super::datarobot::quota(state, tenant.id, body).await;
        applied.count(outcome.map_err(|e| named(&at, e))?);
    }
    for (i, body) in tenant.waldur_user_limits.iter().enumerate() {
        let at = format!("{at}.waldur_user_limits[{i}]");
        let outcome = waldur_limits(state, tenant.id, body).await;
        applied.count(outcome.map_err(|e| named(&at, e))?);
    }
    for (i, body) in tenant.zitadel_quotas.iter().enumerate() {
        let at = format!("{at}.zitadel_quotas[{i}]");
        let outcome = zitadel_quota(state, tenant.id, body).await;
        applied.count(outcome.map_err(|e| named(&at, e))?);
    }
    Ok(applied)
}

/// `e` as an `Invalid` error whose message starts with the entry and the field.
fn named(entry: &str, e: Error) -> Error {
    match e {
        Error::Invalid { field, message } => {
            let name = field.name().to_owned();
            let message = if name.is_empty() {
                format!("{entry}: {message}")
            } else {
                format!("{entry}: {name}: {message}")
            };
            Error::Invalid { field, message }
        }
        other => Error::Invalid {
            field: Field::Body(String::new()),
            message: format!("{entry}: {other}"),
        },
    }
}

/// A surface's error as the domain error inside it.
pub(super) fn domain(e: ApiError) -> Error {
    match e.0 {
        Failure::Domain(e) => e,
        other => Error::invalid_body("", other.public_message()),
    }
}

/// A caller acting inside the tenant with `roles`, for the services that check roles.
pub(super) fn seeder(tenant_id: Uuid, roles: &[Role]) -> Caller {
    Caller {
        tenant_id,
        key_id: "seed".into(),
        user_id: None,
        roles: roles.iter().fold(Roles::default(), |r, role| r.with(*role)),
    }
}

async fn ensure_tenant(state: &AppState, seed: &SeedTenant) -> Result<Outcome> {
    let name = TenantName::parse(&seed.name)?;
    match state.store.tenant(seed.id).await? {
        Some(t) if t.name == name => Ok(Outcome::Unchanged),
        Some(before) => {
            let now = state.clock.now();
            let after = Tenant {
                name: name.clone(),
                ..before.clone()
            };
            let audit = audit::tenant_change(&Actor::start_up(), Some(&before), Some(&after), now);
            state
                .store
                .rename_tenant(seed.id, name.as_str(), now, &audit)
                .await?;
            Ok(Outcome::Updated)
        }
        None => {
            let tenant = Tenant {
                id: seed.id,
                name,
                created_at: state.clock.now(),
            };
            let audit =
                audit::tenant_change(&Actor::start_up(), None, Some(&tenant), tenant.created_at);
            state.store.insert_tenant(&tenant, &audit).await?;
            // Before anything of the tenant takes a unit of its applied quotas.
            crate::api::confluent::service_quota::service(state)
                .ensure_defaults(&Actor::start_up(), tenant.id)
                .await?;
            Ok(Outcome::Created)
        }
    }
}

async fn ensure_key(state: &AppState, tenant_id: Uuid, seed: &SeedKey) -> Result<Outcome> {
    let id_ok = (1..=MAX_KEY_ID_CHARS).contains(&seed.id.chars().count())
        && seed
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        return Err(Error::invalid_body(
            "/id",
            format!("must be 1 to {MAX_KEY_ID_CHARS} letters, digits, '-' or '_'"),
        ));
    }
    if seed.secret.chars().count() < MIN_SECRET_CHARS {
        return Err(Error::invalid_body(
            "/secret",
            format!("must be at least {MIN_SECRET_CHARS} characters"),
        ));
    }
    let roles = Roles::parse(&seed.roles)?;
    let (mut key, _) = ApiKey::issue(
        tenant_id,
        roles,
        seed.user_id,
        seed.description.clone(),
        state.clock.now(),
    )?;
    key.id = seed.id.clone();
    key.secret_hash = SecretHash::of(&seed.secret);
    let existing = state.store.keys(tenant_id).await?;
    let now = state.clock.now();
    match existing.into_iter().find(|k| k.id == key.id) {
        Some(k) if same_key(&k, &key) => Ok(Outcome::Unchanged),
        Some(old) => {
            // Keys have no update: the changed key replaces the old one, keeping its quota unit
            // (one record, an update, for the pair).
            let revoke = AggregateWrite::of(Row::DeleteKey {
                tenant_id,
                id: &key.id,
            });
            state.store.write_aggregate(&revoke).await?;
            state.keys.evict(&key.id);
            let audit = audit::key_change(&Actor::start_up(), Some(&old), Some(&key), now);
            state.store.insert_key(&key, &audit).await?;
            Ok(Outcome::Updated)
        }
        None => {
            let code = service_quota::own(service_quota::API_KEYS)?;
            let reference = ScopeRef::organization();
            service_quota::take(&state.engine, tenant_id, &code, &reference).await?;
            let audit = audit::key_change(&Actor::start_up(), None, Some(&key), now);
            if let Err(e) = state.store.insert_key(&key, &audit).await {
                service_quota::release(&state.engine, tenant_id, &code, &reference).await;
                return Err(e);
            }
            Ok(Outcome::Created)
        }
    }
}

fn same_key(a: &ApiKey, b: &ApiKey) -> bool {
    a.roles == b.roles
        && a.user_id == b.user_id
        && a.description == b.description
        && a.secret_hash.matches(&b.secret_hash)
}

async fn ensure_limit(state: &AppState, tenant_id: Uuid, seed: &SeedLimit) -> Result<Outcome> {
    check_name(&seed.id, "/id")?;
    let limit = seed
        .body
        .clone()
        .into_limit(seed.id.clone(), tenant_id, state.clock.now())?;
    match state.store.limit(tenant_id, &seed.id).await? {
        Some(old) if old.owner.is_some() => Err(Error::Conflict {
            message: format!(
                "limit {} belongs to {} and is not a native limit",
                seed.id,
                old.owner.unwrap_or_default()
            ),
            existing: None,
        }),
        Some(old) if old.same_terms(&limit) => Ok(Outcome::Unchanged),
        Some(_) => {
            state.engine.put_limit(&limit, &Actor::start_up()).await?;
            Ok(Outcome::Updated)
        }
        None => {
            state.engine.put_limit(&limit, &Actor::start_up()).await?;
            Ok(Outcome::Created)
        }
    }
}

async fn waldur_limits(
    state: &AppState,
    tenant_id: Uuid,
    body: &serde_json::Value,
) -> Result<Outcome> {
    let change = parse_set_quota(body).map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| Error::invalid_body("", "not a valid set_quota body"))
    })?;
    let stored = state.store.chat_quota(tenant_id, change.user).await?;
    if let Some(own) = &stored {
        let same = Period::ALL.into_iter().all(|p| match change.limits.get(p) {
            None => true,
            Some(wanted) => wanted == own.get(p),
        });
        if same {
            return Ok(Outcome::Unchanged);
        }
    }
    let caller = seeder(tenant_id, &[Role::Staff]);
    state
        .chat_quotas
        .set_quota(&state.engine, &caller, &Actor::start_up(), change)
        .await?;
    Ok(if stored.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}

async fn zitadel_quota(
    state: &AppState,
    tenant_id: Uuid,
    body: &serde_json::Value,
) -> Result<Outcome> {
    let text = serde_json::to_vec(body).map_err(|e| Error::invalid_body("", e.to_string()))?;
    let body: SystemServiceAddQuotaBody = crate::http::json::parse_json(&text).map_err(domain)?;
    let spec = body.into_spec(Request::Set)?;
    let unit = spec.unit;
    let before = state.store.zitadel_quota(tenant_id, unit).await?;
    zitadel::set_quota(
        &state.engine,
        &state.store,
        &Actor::start_up(),
        tenant_id,
        spec,
    )
    .await?;
    let after = state.store.zitadel_quota(tenant_id, unit).await?;
    Ok(match (before, after) {
        (None, _) => Outcome::Created,
        (Some(b), Some(a)) if b.sequence == a.sequence => Outcome::Unchanged,
        _ => Outcome::Updated,
    })
}
