//! Metric handles registered once per set of labels and kept: looked up by their labels in the
//! recorder, a metric costs a decision more than the engine's own work on it. Bounded by the
//! label sets the engine's own words make.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{LazyLock, PoisonError, RwLock};

use super::batch::FastHash;

/// Handles `V` by their labels `K`.
pub(super) struct Kept<K, V>(LazyLock<RwLock<HashMap<K, V, FastHash>>>);

impl<K: Hash + Eq, V: Clone> Kept<K, V> {
    pub(super) const fn new() -> Self {
        Self(LazyLock::new(RwLock::default))
    }

    /// The handles of `labels`, registered by `register` the first time.
    pub(super) fn get(&self, labels: K, register: impl FnOnce() -> V) -> V {
        let known = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(handles) = known.get(&labels) {
            return handles.clone();
        }
        drop(known);
        let handles = register();
        let mut known = self.0.write().unwrap_or_else(PoisonError::into_inner);
        known.entry(labels).or_insert(handles).clone()
    }
}
