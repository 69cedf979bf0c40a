//! Who may do what with tenants and keys: the domain services behind the native `/v1/tenants`
//! API, the `admin` command and start-up bootstrap.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::aggregate::{AggregateStore, AggregateWrite, Row, UnitChange, Written};
use super::audit::{Actor, key_change, tenant_change};
use super::page::{PageRequest, PageStore, Paged};
use super::principal::{ApiKey, Caller, Role, Roles, Secret};
use super::service_quota::{self, ScopeRef};
use super::tenant::{Tenant, TenantName};
use super::usage::Engine;
use super::{Error, Result};
use crate::domain::ports::*;

/// The name of the tenant that holds the operators' `system` keys.
pub const SYSTEM_TENANT: &str = "system";

/// What a client asks for when creating a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub roles: Vec<String>,
    pub user_id: Option<Uuid>,
    pub description: Option<String>,
}

/// Creates a tenant (system keys only).
pub async fn create_tenant(
    store: &impl Store,
    caller: &Caller,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    caller.require_system()?;
    let tenant = Tenant::new(TenantName::parse(name)?, now);
    store
        .insert_tenant(
            &tenant,
            &tenant_change(&Actor::of(caller), None, Some(&tenant), now),
        )
        .await?;
    Ok(tenant)
}

/// A page of the tenants, oldest first (system keys only).
pub async fn list_tenants(
    store: &impl PageStore,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Paged<Tenant>> {
    caller.require_system()?;
    store.tenants_page(page).await
}

/// One tenant, for a system key or that tenant's own admin. Another tenant's caller is told it
/// is not there; a non-admin of the tenant itself is told what role it lacks.
pub async fn tenant(store: &impl Store, caller: &Caller, id: Uuid) -> Result<Tenant> {
    if caller.tenant_id == id {
        caller.require_any(&[Role::Admin])?;
    } else if !caller.is_system() {
        return Err(Error::NotFound("tenant"));
    }
    store.tenant(id).await?.ok_or(Error::NotFound("tenant"))
}

/// Issues a key in a tenant. A system key may grant anything; a tenant's admin anything but
/// `system`. Returns the key and its secret, to be shown once. The key takes one unit of the
/// tenant's `iam.max_api_keys.per_org` applied quota in its own transaction: past it, the key is
/// refused.
pub async fn create_key<S: EngineStore + AggregateStore>(
    store: &S,
    engine: &Engine<S>,
    caller: &Caller,
    tenant_id: Uuid,
    request: NewKey,
    now: DateTime<Utc>,
) -> Result<(ApiKey, Secret)> {
    let tenant = tenant(store, caller, tenant_id).await?;
    let roles = Roles::parse(&request.roles)?;
    if roles.contains(Role::System) && !caller.is_system() {
        return Err(Error::Forbidden(
            "only a system key may grant the system role".into(),
        ));
    }
    let (key, secret) = ApiKey::issue(
        tenant.id,
        roles,
        request.user_id,
        request.description.unwrap_or_default(),
        now,
    )?;
    let code = service_quota::own(service_quota::API_KEYS)?;
    let unit = service_quota::unit(engine, tenant.id, &code, &ScopeRef::organization());
    let audit = key_change(&Actor::of(caller), None, Some(&key), now);
    let write = AggregateWrite {
        unit: Some(UnitChange::Take(unit)),
        audit: Some(&audit),
        ..AggregateWrite::of(Row::InsertKey(&key))
    };
    match store.write_aggregate(&write).await? {
        Written::Done => Ok((key, secret)),
        Written::NoRoom => Err(service_quota::no_room(&code)),
        other => Err(Error::Internal(format!("a key insert ended as {other:?}"))),
    }
}

/// A page of a tenant's keys, oldest first, for a system key or that tenant's admin.
pub async fn list_keys(
    store: &(impl Store + PageStore),
    caller: &Caller,
    tenant_id: Uuid,
    page: &PageRequest,
) -> Result<Paged<ApiKey>> {
    tenant(store, caller, tenant_id).await?;
    store.keys_page(tenant_id, page).await
}

/// Revokes a key, giving back its unit of the API key quota; the caller must evict it from any
/// cache (see `http::auth::KeyCache`).
pub async fn revoke_key<S: EngineStore + AggregateStore>(
    store: &S,
    engine: &Engine<S>,
    caller: &Caller,
    tenant_id: Uuid,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tenant(store, caller, tenant_id).await?;
    let existing = store
        .keys(tenant_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or(Error::NotFound("api key"))?;
    let audit = key_change(&Actor::of(caller), Some(&existing), None, now);
    let code = service_quota::own(service_quota::API_KEYS)?;
    let unit = service_quota::unit(engine, tenant_id, &code, &ScopeRef::organization());
    let write = AggregateWrite {
        unit: Some(UnitChange::GiveBack(unit)),
        audit: Some(&audit),
        ..AggregateWrite::of(Row::DeleteKey {
            tenant_id,
            id: key_id,
        })
    };
    match store.write_aggregate(&write).await? {
        Written::Done => Ok(()),
        _ => Err(Error::NotFound("api key")),
    }
}

/// What bootstrap did, for the operator to read.
pub enum Bootstrap {
    /// Keys exist (or the given token's key already did): nothing to say.
    Nothing,
    /// The key for `QUOTAPLANE_BOOTSTRAP_TOKEN` was created.
    EnsuredGivenToken,
    /// The store had no key at all: a new system key, whose secret is shown once.
    Created(ApiKey, Secret),
}

/// The description of the key made from `QUOTAPLANE_BOOTSTRAP_TOKEN`: the one a changed token
/// replaces.
pub const BOOTSTRAP_TOKEN_KEY: &str = "bootstrap token";

/// Makes sure an operator can get in: with a token, a system key with that secret exists (and
/// the key of an earlier, different token is revoked); without one, an empty store gets a fresh
/// system key. A token shorter than [`Secret::MIN_GIVEN_LEN`] is refused.
pub async fn bootstrap(
    store: &(impl Store + AggregateStore),
    token: Option<String>,
    now: DateTime<Utc>,
) -> Result<Bootstrap> {
    let given = token
        .map(Secret::from_given)
        .transpose()
        .map_err(|message| Error::Invalid {
            field: super::Field::Header("QUOTAPLANE_BOOTSTRAP_TOKEN".into()),
            message,
        })?;
    if given.is_none() && store.count_keys().await? > 0 {
        return Ok(Bootstrap::Nothing);
    }
    let tenant = match store.tenant_named(SYSTEM_TENANT).await? {
        Some(t) => t,
        None => {
            let t = Tenant::new(TenantName::parse(SYSTEM_TENANT)?, now);
            store
                .insert_tenant(&t, &tenant_change(&Actor::start_up(), None, Some(&t), now))
                .await?;
            t
        }
    };
    let system = Roles::default().with(Role::System);
    match given {
        Some(secret) => {
            let hash = secret.hash();
            for earlier in store.keys(tenant.id).await? {
                if earlier.description == BOOTSTRAP_TOKEN_KEY && !earlier.secret_hash.matches(&hash)
                {
                    // A bootstrap key took no unit of the key quota: none to give back.
                    let audit = key_change(&Actor::start_up(), Some(&earlier), None, now);
                    let revoke = AggregateWrite {
                        audit: Some(&audit),
                        ..AggregateWrite::of(Row::DeleteKey {
                            tenant_id: tenant.id,
                            id: &earlier.id,
                        })
                    };
                    store.write_aggregate(&revoke).await?;
                    tracing::info!(key = %earlier.id, "the key of the earlier bootstrap token is revoked");
                }
            }
            if store.key_by_hash(&hash).await?.is_some() {
                return Ok(Bootstrap::Nothing);
            }
            let (mut key, _) =
                ApiKey::issue(tenant.id, system, None, BOOTSTRAP_TOKEN_KEY.to_owned(), now)?;
            key.secret_hash = hash;
            store
                .insert_key(&key, &key_change(&Actor::start_up(), None, Some(&key), now))
                .await?;
            Ok(Bootstrap::EnsuredGivenToken)
        }
        None => {
            let (key, secret) =
                ApiKey::issue(tenant.id, system, None, "bootstrap".to_owned(), now)?;
            store
                .insert_key(&key, &key_change(&Actor::start_up(), None, Some(&key), now))
                .await?;
            Ok(Bootstrap::Created(key, secret))
        }
    }
}
