//! The entries of an applied-quota list, read from the store a page at a time. A code's entries
//! are the scope references that counted on its default (its partitions, in order, keyset), those
//! with a limit of their own, and the reference the filter names completely (listed at its
//! default while nothing counted it); an organization-wide code has one entry. Entries are
//! ordered by code, then by the reference's partition key. Nothing holds a whole list: a page
//! reads about as many partitions as it shows, and the total is counted by streaming.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use super::service::{ListFilter, ServiceQuotas};
use super::{QuotaCode, Scope, ScopeRef, default_limit, owner_of, partition};
use crate::domain::aggregate::AggregateStore;
use crate::domain::ports::EngineStore;
use crate::domain::{Error, Result};

/// Partitions read per store page.
const CHUNK: u32 = 1000;

/// One list's codes and filter.
pub(super) struct Listing<'s, S> {
    store: &'s S,
    tenant_id: Uuid,
    codes: Vec<QuotaCode>,
    /// Per code, the references with a limit of their own and the named one (read once: both
    /// the count and the page need them).
    kept: Vec<Vec<ScopeRef>>,
    references: BTreeMap<String, String>,
    /// The reference the filter names completely, listed for every code.
    named: Option<ScopeRef>,
}

/// Where an entry stands in the list: its code, a line break (before every character a code
/// may hold), then its partition key.
pub(super) fn position(code: &QuotaCode, reference: &ScopeRef) -> String {
    format!("{}\n{}", code.code, partition(code, reference))
}

impl<'s, S: EngineStore + AggregateStore> Listing<'s, S> {
    /// The list of `tenant_id`'s applied quotas of `scope` that `filter` selects.
    pub async fn new(
        service: &ServiceQuotas<'s, S>,
        tenant_id: Uuid,
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
        let named = ScopeRef::of(scope, &filter.references, |k, m| Error::invalid_query(k, m)).ok();
        let mut listing = Self {
            store: service.store,
            tenant_id,
            codes,
            kept: Vec::new(),
            references: filter.references.clone(),
            named,
        };
        for code in &listing.codes {
            let kept = listing.read_kept(code).await?;
            listing.kept.push(kept);
        }
        Ok(listing)
    }

    /// The references of `code` with a limit of their own, and the named one, that the filter
    /// keeps.
    async fn read_kept(&self, code: &QuotaCode) -> Result<Vec<ScopeRef>> {
        let mut kept: Vec<ScopeRef> = self.named.iter().cloned().collect();
        if code.scope == Scope::Organization {
            return Ok(kept);
        }
        let owner = owner_of(&code.code);
        for limit in self
            .store
            .limits_of_metric(self.tenant_id, &code.code)
            .await?
        {
            if limit.owner.as_deref() == Some(owner.as_str()) && !limit.selector.as_map().is_empty()
            {
                let reference = ScopeRef::from_selector(&limit.selector);
                if reference.matches(&self.references) {
                    kept.push(reference);
                }
            }
        }
        Ok(kept)
    }

    /// `code`'s partitions after `after` (a partition key), a chunk at a time, as the references
    /// the filter keeps; `each` returns false to stop.
    async fn partitions(
        &self,
        code: &QuotaCode,
        after: &str,
        mut each: impl FnMut(ScopeRef) -> bool,
    ) -> Result<()> {
        if code.scope == Scope::Organization {
            return Ok(());
        }
        let default_id = default_limit(code, self.tenant_id, 0, chrono::DateTime::UNIX_EPOCH).id;
        let mut after = after.to_owned();
        loop {
            let chunk = self
                .store
                .applied_partitions(self.tenant_id, &default_id, &after, CHUNK)
                .await?;
            for per_value in &chunk {
                let Some(reference) = ScopeRef::from_partition(code.scope, per_value) else {
                    continue;
                };
                if reference.matches(&self.references) && !each(reference) {
                    return Ok(());
                }
            }
            match chunk.last() {
                Some(last) if chunk.len() == CHUNK as usize => after.clone_from(last),
                _ => return Ok(()),
            }
        }
    }

    /// Up to `n` entries after the position `after`, in order.
    pub async fn after(
        &self,
        after: Option<String>,
        n: u32,
    ) -> Result<Vec<(&QuotaCode, ScopeRef)>> {
        let n = n as usize;
        let mut found: BTreeMap<String, (usize, ScopeRef)> = BTreeMap::new();
        for (index, code) in self.codes.iter().enumerate() {
            let later = |position: &str| after.as_deref().is_none_or(|a| position > a);
            let mut add = |reference: ScopeRef| {
                let at = position(code, &reference);
                if later(&at) {
                    found.insert(at, (index, reference));
                }
            };
            for reference in &self.kept[index] {
                add(reference.clone());
            }
            let from = match after.as_deref().and_then(|a| a.split_once('\n')) {
                Some((c, per_value)) if c == code.code => per_value.to_owned(),
                _ => String::new(),
            };
            let mut taken = 0;
            self.partitions(code, &from, |reference| {
                add(reference);
                taken += 1;
                taken < n
            })
            .await?;
            while found.len() > n {
                found.pop_last();
            }
            if found.len() == n {
                break;
            }
        }
        Ok(found
            .into_values()
            .map(|(index, reference)| (&self.codes[index], reference))
            .collect())
    }

    /// How many entries the list has, read a chunk at a time.
    pub async fn count(&self) -> Result<i64> {
        let mut count = 0i64;
        for (code, kept) in self.codes.iter().zip(&self.kept) {
            let mut others: HashSet<&ScopeRef> = kept.iter().collect();
            self.partitions(code, "", |reference| {
                others.remove(&reference);
                count += 1;
                true
            })
            .await?;
            count += others.len() as i64;
        }
        Ok(count)
    }
}
