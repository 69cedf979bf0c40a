//! The client quota service: create, read, list, update and delete, keeping each quota's engine
//! limits in step with it, and the effective quota of a principal.
//!
//! A client quota is an aggregate: its row, its principals (which is what makes "one client quota
//! per principal and cluster" hold under concurrent writers), its engine limits and its unit of
//! the cluster's applied quota are written, replaced and deleted in one store transaction. A
//! failure at any point leaves all or nothing, so a retry finds nothing half-made.

use crate::domain::audit::{Actor, client_quota_change as change};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::limits::{
    EGRESS_METRIC, INGRESS_METRIC, SUBJECT_CLUSTER, SUBJECT_ENVIRONMENT, SUBJECT_PRINCIPAL,
};
use super::page::{self, Cursor, Scope};
use super::{Changes, ClientQuota, DEFAULT_PRINCIPAL, Draft, PrincipalClash, limits_of, new_id};
use super::{owner_of, resource_id};
use crate::domain::aggregate::{
    AggregateStore, AggregateWrite, OwnedLimits, Row, UnitChange, Written,
};
use crate::domain::limit::Subject;
use crate::domain::ports::*;
use crate::domain::precedence::Standing;
use crate::domain::service_quota::{self, ScopeRef};
use crate::domain::usage::Engine;
use crate::domain::{Error, Field, Result};

/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 100;
/// How often a create retries with a fresh id when the random one is taken.
const ID_ATTEMPTS: usize = 4;

/// The service over one store and the engine.
pub struct ClientQuotas<'a, S> {
    pub store: &'a S,
    pub engine: &'a Engine<S>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<ClientQuota>,
    /// How many client quotas the whole list holds.
    pub total_size: i64,
    /// The token of the next page; `None` on the last page.
    pub next_token: Option<String>,
    pub page_size: u32,
}

/// The client quota that governs a principal on a cluster.
#[derive(Debug, Clone)]
pub struct Effective {
    pub quota: ClientQuota,
    /// The principal whose entry applies: the one asked about, or `<default>`.
    pub via: String,
}

impl<S: EngineStore + AggregateStore> ClientQuotas<'_, S> {
    /// Creates a client quota and its limits, unless one of its principals already has a client
    /// quota on the cluster (a conflict naming that quota).
    pub async fn create(
        &self,
        actor: &Actor,
        tenant_id: Uuid,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<ClientQuota> {
        let now = micros(now);
        let mut quota = ClientQuota {
            id: new_id(),
            tenant_id,
            display_name: draft.display_name,
            description: draft.description,
            throughput: draft.throughput,
            environment: draft.environment,
            cluster: draft.cluster,
            principals: draft.principals,
            created_at: now,
            updated_at: now,
        };
        let code = service_quota::own(service_quota::KAFKA_CLIENT_QUOTAS)?;
        let reference = ScopeRef::kafka_cluster(&quota.environment, &quota.cluster);
        let unit = service_quota::unit(self.engine, tenant_id, &code, &reference);
        self.engine
            .ensure_room(tenant_id, &limits_of(&quota), &[])
            .await?;
        let mut attempts = 0;
        loop {
            let audit = change(actor, None, Some(&quota), now);
            let write = AggregateWrite {
                limits: Some(owned_limits(&quota)),
                unit: Some(UnitChange::Take(unit.clone())),
                audit: Some(&audit),
                ..AggregateWrite::of(Row::InsertClientQuota(&quota))
            };
            match self.store.write_aggregate(&write).await {
                Err(Error::AlreadyExists { .. }) if attempts + 1 < ID_ATTEMPTS => {
                    attempts += 1;
                    quota.id = new_id();
                }
                Ok(Written::NoRoom) => return Err(service_quota::no_room(&code)),
                written => {
                    settled(&quota, written?)?;
                    break;
                }
            }
        }
        self.limits_changed(tenant_id);
        Ok(quota)
    }

    /// The tenant's client quota `id`.
    pub async fn get(&self, tenant_id: Uuid, id: &str) -> Result<ClientQuota> {
        self.store
            .client_quota(tenant_id, id)
            .await?
            .ok_or(Error::NotFound("client quota"))
    }

    /// One page of the client quotas on `cluster` of `environment`, oldest first.
    pub async fn list(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        page_size: Option<u32>,
        token: Option<&str>,
    ) -> Result<Page> {
        let scope = Scope {
            tenant_id,
            environment,
            cluster,
        };
        let (after, token_size) = match token {
            Some(token) => {
                let key = self.page_key().await?;
                let cursor = page::open(&key, scope, token)?;
                (Some((cursor.created_us, cursor.id)), Some(cursor.page_size))
            }
            None => (None, None),
        };
        let page_size = page_size.or(token_size).unwrap_or(DEFAULT_PAGE_SIZE);
        let mut items = self
            .store
            .client_quotas(
                tenant_id,
                environment,
                cluster,
                after,
                i64::from(page_size) + 1,
            )
            .await?;
        let total_size = self
            .store
            .count_client_quotas(tenant_id, environment, cluster)
            .await?;
        let next_token = if items.len() > page_size as usize {
            items.truncate(page_size as usize);
            match items.last() {
                Some(last) => {
                    let cursor = Cursor {
                        created_us: last.created_at.timestamp_micros(),
                        id: last.id.clone(),
                        page_size,
                    };
                    Some(page::seal(&self.page_key().await?, scope, &cursor)?)
                }
                None => None,
            }
        } else {
            None
        };
        Ok(Page {
            items,
            total_size,
            next_token,
            page_size,
        })
    }

    /// Applies `changes` to client quota `id`. `environment` and `cluster`, when given, must be
    /// the quota's: both are immutable.
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        actor: &Actor,
        tenant_id: Uuid,
        id: &str,
        environment: Option<&str>,
        cluster: Option<&str>,
        changes: Changes,
        now: DateTime<Utc>,
    ) -> Result<ClientQuota> {
        let current = self.get(tenant_id, id).await?;
        if environment.is_some_and(|e| e != current.environment) {
            return Err(Error::invalid_body(
                "/spec/environment/id",
                format!(
                    "the environment is immutable: this client quota is in '{}'",
                    current.environment
                ),
            ));
        }
        if cluster.is_some_and(|c| c != current.cluster) {
            return Err(Error::invalid_body(
                "/spec/cluster/id",
                format!(
                    "the cluster is immutable: this client quota is on '{}'",
                    current.cluster
                ),
            ));
        }
        let updated = current.clone().changed(changes, micros(now));
        self.engine
            .ensure_room(tenant_id, &limits_of(&updated), &limits_of(&current))
            .await?;
        let audit = change(actor, Some(&current), Some(&updated), updated.updated_at);
        let write = AggregateWrite {
            limits: Some(owned_limits(&updated)),
            audit: Some(&audit),
            ..AggregateWrite::of(Row::UpdateClientQuota(&updated))
        };
        settled(&updated, self.store.write_aggregate(&write).await?)?;
        self.limits_changed(tenant_id);
        Ok(updated)
    }

    /// Deletes client quota `id` with its limits, giving back its unit of the applied quota.
    pub async fn delete(
        &self,
        actor: &Actor,
        tenant_id: Uuid,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let quota = self.get(tenant_id, id).await?;
        let audit = change(actor, Some(&quota), None, now);
        let code = service_quota::own(service_quota::KAFKA_CLIENT_QUOTAS)?;
        let reference = ScopeRef::kafka_cluster(&quota.environment, &quota.cluster);
        let unit = service_quota::unit(self.engine, tenant_id, &code, &reference);
        let write = AggregateWrite {
            limits: Some(OwnedLimits {
                limits: Vec::new(),
                ..owned_limits(&quota)
            }),
            unit: Some(UnitChange::GiveBack(unit)),
            audit: Some(&audit),
            ..AggregateWrite::of(Row::DeleteClientQuota { tenant_id, id })
        };
        settled(&quota, self.store.write_aggregate(&write).await?)?;
        self.limits_changed(tenant_id);
        Ok(())
    }

    /// The client quota that governs `principal` on `cluster`: its own, else `<default>`'s.
    pub async fn effective(
        &self,
        tenant_id: Uuid,
        environment: &str,
        cluster: &str,
        principal: &str,
    ) -> Result<Effective> {
        let path = |name: &str, value: &str| {
            resource_id(value.to_owned(), name).map_err(|e| match e {
                Error::Invalid { message, .. } => Error::Invalid {
                    field: Field::Path(name.into()),
                    message,
                },
                other => other,
            })
        };
        path("environment", environment)?;
        path("cluster", cluster)?;
        path("principal", principal)?;
        // The engine's answer: the client quota whose ingress limit applies to the principal.
        let subject = Subject::of([
            (SUBJECT_ENVIRONMENT, environment),
            (SUBJECT_CLUSTER, cluster),
            (SUBJECT_PRINCIPAL, principal),
        ]);
        let applying = self
            .engine
            .effective(tenant_id, &subject, INGRESS_METRIC)
            .await?
            .into_iter()
            .filter(|e| e.standing == Standing::Applies)
            .find_map(|e| {
                let owner = e.limit.shape.owner.as_deref()?;
                let id = owner.strip_prefix("confluent:")?.to_owned();
                let via = match e.limit.selector().get(SUBJECT_PRINCIPAL) {
                    Some(own) => own.to_owned(),
                    None => DEFAULT_PRINCIPAL.to_owned(),
                };
                Some((id, via))
            });
        let Some((id, via)) = applying else {
            return Err(Error::NotFound("client quota"));
        };
        let quota = self
            .store
            .client_quota(tenant_id, &id)
            .await?
            .ok_or(Error::NotFound("client quota"))?;
        Ok(Effective { quota, via })
    }

    /// The engine's cached limits of the metrics client quotas own are stale.
    fn limits_changed(&self, tenant_id: Uuid) {
        self.engine
            .limits_changed(tenant_id, [INGRESS_METRIC, EGRESS_METRIC]);
    }

    /// The key that signs page tokens: made once, kept in the store.
    async fn page_key(&self) -> Result<Vec<u8>> {
        page::key(self.store, self.engine.now()).await
    }
}

/// Checks a page size from a query string: a whole number from 1 to 100.
pub fn page_size(raw: Option<&str>) -> Result<Option<u32>> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Some(n)),
        _ => Err(Error::invalid_query(
            "page_size",
            format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
        )),
    }
}

/// The conflict of `quota` with the client quota a principal already has.
fn conflict(quota: &ClientQuota, clash: PrincipalClash) -> Error {
    Error::Conflict {
        message: format!(
            "principal '{}' already has client quota '{}' on cluster '{}'",
            clash.principal, clash.quota_id, quota.cluster
        ),
        existing: Some(clash.quota_id),
    }
}

/// The limits `quota` owns, as an aggregate write replaces them.
fn owned_limits(quota: &ClientQuota) -> OwnedLimits {
    OwnedLimits {
        tenant_id: quota.tenant_id,
        owner: owner_of(&quota.id),
        limits: limits_of(quota),
    }
}

/// What an aggregate write of `quota` that did not commit means to the caller.
fn settled(quota: &ClientQuota, written: Written) -> Result<()> {
    match written {
        Written::Done => Ok(()),
        Written::Missing => Err(Error::NotFound("client quota")),
        Written::Clash(clash) => Err(conflict(quota, clash)),
        Written::Taken(id) => Err(Error::Conflict {
            message: format!("limit {id} is managed by another resource"),
            existing: None,
        }),
        Written::NoRoom => Err(Error::Internal(
            "a unit was refused where none was taken".into(),
        )),
    }
}

/// `at` cut to whole microseconds, the precision both stores keep.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_one_to_one_hundred() {
        assert_eq!(page_size(None).ok(), Some(None));
        assert_eq!(page_size(Some("100")).ok(), Some(Some(100)));
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(page_size(Some(bad)).is_err(), "{bad}");
        }
    }
}
