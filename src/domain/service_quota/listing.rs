//! The entries of an applied-quota list, read from the store a page at a time: the limits of
//! the scope's codes (in id order, keyset), merged with the entry the filter names completely
//! (one per code, at its default while it has no limit). Nothing holds the whole list: a page
//! reads about as many limits as it shows, and the total is counted by streaming.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use super::service::{ListFilter, ServiceQuotas};
use super::{QuotaCode, Scope, ScopeRef, limit_id, owner_of};
use crate::domain::aggregate::AggregateStore;
use crate::domain::limit::Limit;
use crate::domain::page::{Cursor, PageRequest};
use crate::domain::ports::EngineStore;
use crate::domain::{Error, Result};

/// Limits read per store page while counting.
const COUNT_CHUNK: u32 = 1000;

/// One list's codes and filter.
pub(super) struct Listing<'s, S> {
    store: &'s S,
    codes: Vec<QuotaCode>,
    owners: Vec<String>,
    references: BTreeMap<String, String>,
    /// The reference the filter names completely, listed for every code.
    named: Option<ScopeRef>,
}

impl<'s, S: EngineStore + AggregateStore> Listing<'s, S> {
    /// The list of `scope`'s applied quotas that `filter` selects.
    pub async fn new(
        service: &ServiceQuotas<'s, S>,
        scope: Scope,
        filter: &ListFilter,
    ) -> Result<Self> {
        let codes: Vec<QuotaCode> = service
            .catalogue()
            .await?
            .into_iter()
            .filter(|c| c.scope == scope)
            .filter(|c| filter.code.as_ref().is_none_or(|f| *f == c.code))
            .collect();
        let owners = codes.iter().map(|c| owner_of(&c.code)).collect();
        let named = ScopeRef::of(scope, &filter.references, |k, m| Error::invalid_query(k, m)).ok();
        Ok(Self {
            store: service.store,
            codes,
            owners,
            references: filter.references.clone(),
            named,
        })
    }

    /// The listed entry a stored limit stands for, with its id, if the filter keeps it.
    fn entry_of(&self, limit: &Limit) -> Option<(String, usize, ScopeRef)> {
        let index = self
            .owners
            .iter()
            .position(|o| limit.owner.as_deref() == Some(o.as_str()))?;
        let reference = ScopeRef::from_selector(&limit.selector);
        reference.matches(&self.references).then(|| {
            let id = limit_id(&self.codes[index].code, &reference);
            (id, index, reference)
        })
    }

    /// The named entries, one per code, with their ids.
    fn named_entries(&self) -> impl Iterator<Item = (String, usize, ScopeRef)> + '_ {
        self.named.iter().flat_map(move |named| {
            self.codes
                .iter()
                .enumerate()
                .map(move |(i, c)| (limit_id(&c.code, named), i, named.clone()))
        })
    }

    /// Up to `n` entries whose ids come after `after`, in id order.
    pub async fn after(
        &self,
        tenant_id: Uuid,
        after: Option<String>,
        n: u32,
    ) -> Result<Vec<(&QuotaCode, ScopeRef)>> {
        let later = |id: &str| after.as_deref().is_none_or(|a| id > a);
        let mut found: BTreeMap<String, (usize, ScopeRef)> = BTreeMap::new();
        let mut page = PageRequest {
            limit: n.clamp(1, crate::domain::page::MAX_LIMIT),
            after: after.clone().map(|id| Cursor {
                created_at: None,
                id,
            }),
        };
        loop {
            let chunk = self
                .store
                .owned_limits_page(tenant_id, &self.owners, &page)
                .await?;
            for (id, index, reference) in chunk.items.iter().filter_map(|l| self.entry_of(l)) {
                if later(&id) {
                    found.insert(id, (index, reference));
                }
            }
            match chunk.next {
                Some(next) if found.len() < n as usize => page.after = Some(next),
                _ => break,
            }
        }
        for (id, index, reference) in self.named_entries() {
            if later(&id) {
                found.entry(id).or_insert((index, reference));
            }
        }
        Ok(found
            .into_values()
            .take(n as usize)
            .map(|(index, reference)| (&self.codes[index], reference))
            .collect())
    }

    /// How many entries the list has, read a chunk at a time.
    pub async fn count(&self, tenant_id: Uuid) -> Result<i64> {
        let mut named: HashSet<String> = self.named_entries().map(|(id, ..)| id).collect();
        let mut count = 0i64;
        let mut page = PageRequest {
            limit: COUNT_CHUNK,
            after: None,
        };
        loop {
            let chunk = self
                .store
                .owned_limits_page(tenant_id, &self.owners, &page)
                .await?;
            for (id, ..) in chunk.items.iter().filter_map(|l| self.entry_of(l)) {
                named.remove(&id);
                count += 1;
            }
            match chunk.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(count + named.len() as i64)
    }
}
