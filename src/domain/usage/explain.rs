//! Explained decisions: for each limit that matched a request, how it stood in the decision.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::CachedLimit;
use super::{Decision, Matched};

/// How one matching limit stood in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// It applied and had room.
    Applied,
    /// It decided: it refused, or (admitted) it has the least room left of the blocking limits.
    Binding,
    /// A shadow limit that would have refused.
    WouldRefuse,
    /// A more specific limit of its family applied instead.
    Replaced,
}

/// One matching limit in an explained decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explained {
    pub quota_id: String,
    pub part: Part,
    /// Replaced: the id of a limit that applied instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    pub family: Option<String>,
    pub shadow: bool,
}

/// Each limit of `matched` (those that applied) and `replaced`, as it stood in `decision`.
pub(super) fn explain(
    matched: &[Matched],
    replaced: &[(Arc<CachedLimit>, String)],
    decision: &Decision,
) -> Vec<Explained> {
    let refusing = |id: &str| !decision.allowed && decision.limits.iter().any(|l| l.quota_id == id);
    // Admitted: the blocking limits left with the least room bound the decision.
    let tightest = if decision.allowed {
        decision
            .limits
            .iter()
            .filter(|l| {
                matched
                    .iter()
                    .any(|m| *m.limit.id == *l.quota_id && m.limit.shape.blocking && !m.shadow)
            })
            .filter_map(|l| l.remaining)
            .min()
    } else {
        None
    };
    let binding = |id: &str| {
        refusing(id)
            || tightest.is_some_and(|least| {
                decision
                    .limits
                    .iter()
                    .any(|l| l.quota_id == id && l.remaining == Some(least))
            })
    };
    let applied = matched.iter().map(|m| {
        let id = &m.limit.id;
        let part = if m.shadow && decision.would_refuse.iter().any(|w| **w == **id) {
            Part::WouldRefuse
        } else if !m.shadow && m.limit.shape.blocking && binding(id) {
            Part::Binding
        } else {
            Part::Applied
        };
        Explained {
            quota_id: id.to_string(),
            part,
            replaced_by: None,
            family: m.limit.shape.family.as_deref().map(str::to_owned),
            shadow: m.shadow,
        }
    });
    let replaced = replaced.iter().map(|(limit, by)| Explained {
        quota_id: limit.id.to_string(),
        part: Part::Replaced,
        replaced_by: Some(by.clone()),
        family: limit.shape.family.as_deref().map(str::to_owned),
        shadow: limit.shape.mode == crate::domain::limit::Mode::Shadow,
    });
    applied.chain(replaced).collect()
}
