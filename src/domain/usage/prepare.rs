//! Preparers: hooks a surface runs before a usage request is matched against limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use uuid::Uuid;

use super::{Engine, Usage};
use crate::domain::Result;
use crate::domain::ports::EngineStore;

/// A future a [`Preparer`] returns.
pub type Prepared<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Runs before a usage request is matched against limits. A surface whose limits are kept per
/// subject (one set per Waldur user, say) uses it to create a subject's limits on first use, so
/// they apply from the first request on, and to put the subject in the form its limits select on.
pub trait Preparer<S>: Send + Sync {
    /// Whether [`Preparer::prepare`] has anything to do with `usage` (a cheap test, so the hot
    /// path of other metrics pays nothing more).
    fn wants(&self, usage: &Usage) -> bool;

    /// Makes the limits `usage` should meet exist; may rewrite `usage.subject`.
    fn prepare<'a>(
        &'a self,
        engine: &'a Engine<S>,
        tenant_id: Uuid,
        usage: &'a mut Usage,
    ) -> Prepared<'a>;
}

impl<S: EngineStore> Engine<S> {
    /// Adds a hook run before every check, consume, report and acquire (see [`Preparer`]).
    pub fn add_preparer(&self, preparer: Arc<dyn Preparer<S>>) {
        if let Ok(mut preparers) = self.preparers.write() {
            preparers.push(preparer);
        }
    }

    /// `usage` as the preparers leave it (the same request when there are none).
    pub(super) async fn prepared(&self, tenant_id: Uuid, usage: &Usage) -> Result<Option<Usage>> {
        // Only the preparers that want this request: for every other metric, no clone, no hook.
        let preparers: Vec<Arc<dyn Preparer<S>>> = match self.preparers.read() {
            Ok(all) => all.iter().filter(|p| p.wants(usage)).cloned().collect(),
            Err(_) => Vec::new(),
        };
        if preparers.is_empty() {
            return Ok(None);
        }
        let mut usage = usage.clone();
        for preparer in preparers {
            preparer.prepare(self, tenant_id, &mut usage).await?;
        }
        Ok(Some(usage))
    }

    /// Runs the preparers for `usage` (making the limits it should meet exist) without deciding
    /// anything.
    pub async fn prepare(&self, tenant_id: Uuid, usage: &Usage) -> Result<()> {
        self.prepared(tenant_id, usage).await.map(drop)
    }
}
