//! The service-quota service: the catalogue, the applied quotas of a tenant (listed and read),
//! operator-defined codes, and adjustments of applied limits (audited).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::enforce::live_count;
use super::listing::{Listing, position};
use super::{QuotaCode, Scope, ScopeRef, builtin_codes, documented_codes, owner_of, subject};
use crate::domain::aggregate::AggregateStore;
use crate::domain::confluent::page::{self, Cursor};
use crate::domain::limit::Amount;
use crate::domain::ports::*;
use crate::domain::precedence::Standing;
use crate::domain::usage::Engine;
use crate::domain::usage::batch::CounterKey;
use crate::domain::{Error, Result};

/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Largest page size (the vendor's `maximum`).
pub const MAX_PAGE_SIZE: u32 = 200;

/// The service over the store and the engine.
pub struct ServiceQuotas<'a, S> {
    pub store: &'a S,
    pub engine: &'a Engine<S>,
}

/// One applied quota of a tenant: a code at one scope reference.
#[derive(Debug, Clone)]
pub struct Applied {
    pub code: QuotaCode,
    pub reference: ScopeRef,
    pub applied_limit: i64,
    /// Known for quotaplane's own resources, and for other codes once usage was reported.
    pub usage: Option<i64>,
    /// Where it stands in a list (see [`Listing`]).
    pub position: String,
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Reference filters (`environment`, `kafka_cluster`, ...), all optional.
    pub references: BTreeMap<String, String>,
    /// Only this code.
    pub code: Option<String>,
}

/// One page of applied quotas.
#[derive(Debug, Clone)]
pub struct AppliedPage {
    pub items: Vec<Applied>,
    pub total_size: i64,
    pub next_token: Option<String>,
    pub page_size: u32,
}

/// A change of an applied limit as asked.
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// The tenant to adjust (system keys); an admin adjusts its own.
    pub organization: Option<Uuid>,
    pub scope: Scope,
    pub references: BTreeMap<String, String>,
    pub applied_limit: i64,
}

impl<S: EngineStore + AggregateStore> ServiceQuotas<'_, S> {
    /// Every code, ordered by code: the built-in ones, Confluent's documented ones (as the
    /// operator redefined them, if so), and the operator's own.
    pub async fn catalogue(&self) -> Result<Vec<QuotaCode>> {
        let stored = self.store.service_quota_codes().await?;
        let mut codes = builtin_codes();
        codes.extend(
            documented_codes()
                .into_iter()
                .filter(|d| !stored.iter().any(|s| s.code == d.code)),
        );
        codes.extend(stored);
        codes.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(codes)
    }

    /// The code `code`, or not found.
    pub async fn code(&self, code: &str) -> Result<QuotaCode> {
        self.catalogue()
            .await?
            .into_iter()
            .find(|c| c.code == code)
            .ok_or(Error::NotFound("applied quota"))
    }

    /// One page of the scopes, in their fixed order.
    pub async fn scopes(
        &self,
        tenant_id: Uuid,
        page_size: Option<u32>,
        token: Option<&str>,
    ) -> Result<(Vec<Scope>, Option<String>, u32)> {
        let token_scope = page::Scope {
            tenant_id,
            environment: "scopes",
            cluster: "service-quota",
        };
        let (skip, token_size) = match token {
            Some(token) => {
                let key = page::key(self.store, self.engine.now()).await?;
                let cursor = page::open(&key, token_scope, token)?;
                let after = Scope::ALL
                    .iter()
                    .position(|s| s.name() == cursor.id)
                    .map_or(Scope::ALL.len(), |i| i + 1);
                (after, Some(cursor.page_size))
            }
            None => (0, None),
        };
        let page_size = page_size.or(token_size).unwrap_or(DEFAULT_PAGE_SIZE);
        let items: Vec<Scope> = Scope::ALL
            .into_iter()
            .skip(skip)
            .take(page_size as usize)
            .collect();
        let next = match items.last() {
            Some(last) if skip + items.len() < Scope::ALL.len() => {
                let cursor = Cursor {
                    created_us: 0,
                    id: last.name().to_owned(),
                    page_size,
                };
                let key = page::key(self.store, self.engine.now()).await?;
                Some(page::seal(&key, token_scope, &cursor)?)
            }
            _ => None,
        };
        Ok((items, next, page_size))
    }

    /// One page of the tenant's applied quotas of `scope`, ordered by code and reference.
    pub async fn list(
        &self,
        tenant_id: Uuid,
        scope: Scope,
        filter: &ListFilter,
        page_size: Option<u32>,
        token: Option<&str>,
    ) -> Result<AppliedPage> {
        let bound = bound_to(scope, filter);
        let token_scope = page::Scope {
            tenant_id,
            environment: &bound,
            cluster: "service-quota",
        };
        let (after, token_size) = match token {
            Some(token) => {
                let key = page::key(self.store, self.engine.now()).await?;
                let cursor = page::open(&key, token_scope, token)?;
                (Some(cursor.id), Some(cursor.page_size))
            }
            None => (None, None),
        };
        let page_size = page_size.or(token_size).unwrap_or(DEFAULT_PAGE_SIZE);
        let listing = Listing::new(self, tenant_id, scope, filter).await?;
        let total_size = listing.count().await?;
        let mut items = Vec::with_capacity(page_size as usize + 1);
        for (code, reference) in listing.after(after, page_size + 1).await? {
            items.push(self.applied(tenant_id, code, reference).await?);
        }
        let next_token = if items.len() > page_size as usize {
            items.truncate(page_size as usize);
            match items.last() {
                Some(last) => {
                    let cursor = Cursor {
                        created_us: 0,
                        id: last.position.clone(),
                        page_size,
                    };
                    let key = page::key(self.store, self.engine.now()).await?;
                    Some(page::seal(&key, token_scope, &cursor)?)
                }
                None => None,
            }
        } else {
            None
        };
        Ok(AppliedPage {
            items,
            total_size,
            next_token,
            page_size,
        })
    }

    /// The applied quota `code` of the tenant at the reference named in `given` (every
    /// reference the code's scope needs must be there: a query parameter error otherwise).
    pub async fn get(
        &self,
        tenant_id: Uuid,
        code: &str,
        given: &BTreeMap<String, String>,
    ) -> Result<Applied> {
        let code = self.code(code).await?;
        let reference = ScopeRef::of(code.scope, given, |k, m| Error::invalid_query(k, m))?;
        self.applied(tenant_id, &code, reference).await
    }

    /// Where `code` stands at `reference`: the limit of the code that applies to it (its own,
    /// else the default), and its usage there. Usage is known for quotaplane's own resources,
    /// and for other codes once a count was kept for the reference.
    pub(super) async fn applied(
        &self,
        tenant_id: Uuid,
        code: &QuotaCode,
        reference: ScopeRef,
    ) -> Result<Applied> {
        let subject = subject(code.scope, tenant_id, &reference);
        let owner = owner_of(&code.code);
        let governing = self
            .engine
            .effective(tenant_id, &subject, &code.code)
            .await?
            .into_iter()
            .find(|e| {
                matches!(e.standing, Standing::Applies)
                    && e.limit.shape.owner.as_deref() == Some(&*owner)
            });
        let (applied_limit, usage) = match governing {
            Some(found) => {
                let amount = amount_of(found.limit.amount, code);
                let counted = code.builtin || found.status.used > 0 || {
                    let key = CounterKey {
                        tenant_id,
                        limit_id: found.limit.id.to_string(),
                        per_value: found.limit.partition(&subject),
                        period_start: 0,
                    };
                    let stored = self
                        .store
                        .counter_values(std::slice::from_ref(&key))
                        .await?;
                    stored.contains_key(&key)
                };
                (amount, counted.then_some(found.status.used))
            }
            None => (
                code.default_limit,
                live_count(self.store, tenant_id, &code.code, &reference).await?,
            ),
        };
        Ok(Applied {
            position: position(code, &reference),
            code: code.clone(),
            reference,
            applied_limit,
            usage,
        })
    }
}

/// An applied limit's amount as the vendor shows it (an unlimited one at the largest limit).
pub(super) fn amount_of(amount: Amount, code: &QuotaCode) -> i64 {
    match amount {
        Amount::Limited(n) => n,
        Amount::Unlimited => super::MAX_LIMIT.max(code.default_limit),
    }
}

/// What a page token is bound to: the scope and every filter of the list.
fn bound_to(scope: Scope, filter: &ListFilter) -> String {
    let mut bound = String::from(scope.name());
    for (k, v) in &filter.references {
        bound.push_str(&format!("\n{k}={v}"));
    }
    if let Some(code) = &filter.code {
        bound.push_str(&format!("\nid={code}"));
    }
    bound
}

/// Checks a page size from a query string: a whole number from 1 to 200.
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
