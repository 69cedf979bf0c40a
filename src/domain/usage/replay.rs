//! Idempotency records: the request's hash and a compact answer. A decision can list hundreds
//! of limits (27 KB with 200); the record keeps only what the limits' counters cannot tell
//! again (whether it was admitted, the lease, the wait, and which limits refused), and a replay
//! answers that outcome with those limits' standing as the replaying batch reads it.

use serde::{Deserialize, Serialize};

use super::batch::IdempotencyRecord;
use super::decide::statuses;
use super::{Decision, Job, LeaseGrant};
use crate::domain::{Error, Result};

/// The stored answer. `v` tells it from the whole decisions stored before (still read, until
/// they expire).
#[derive(Debug, Serialize, Deserialize)]
struct Compact {
    v: u8,
    allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<LeaseGrant>,
    /// Refused: the ids of the limits that refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    refused_by: Vec<String>,
}

/// The record of `decision` taken for a request hashing to `request_hash`.
pub(super) fn record(request_hash: &str, decision: &Decision) -> IdempotencyRecord {
    let compact = Compact {
        v: 1,
        allowed: decision.allowed,
        retry_after: decision.retry_after,
        lease: decision.lease,
        refused_by: if decision.allowed {
            Vec::new()
        } else {
            decision.limits.iter().map(|l| l.quota_id.clone()).collect()
        },
    };
    IdempotencyRecord {
        request_hash: request_hash.to_owned(),
        decision: serde_json::to_string(&compact).unwrap_or_default(),
    }
}

/// The answer to `job` replaying `record`: 422 (`IdempotencyKeyReused`) when its hash differs.
pub(super) fn replay(
    record: &IdempotencyRecord,
    hash: &str,
    job: &Job,
    counters: &super::decide::Counters<'_>,
) -> Result<Decision> {
    if record.request_hash != hash {
        return Err(Error::IdempotencyKeyReused);
    }
    let unreadable =
        |e: serde_json::Error| Error::Internal(format!("a stored decision is unreadable: {e}"));
    let mut decision = match serde_json::from_str::<Compact>(&record.decision) {
        Ok(compact) => {
            let limits = statuses(job, counters, |_, _| true);
            Decision {
                allowed: compact.allowed,
                limits: if compact.allowed {
                    limits
                } else {
                    limits
                        .into_iter()
                        .filter(|l| compact.refused_by.contains(&l.quota_id))
                        .collect()
                },
                retry_after: compact.retry_after,
                lease: compact.lease,
                would_refuse: Vec::new(),
                explain: None,
                replayed: true,
            }
        }
        // A whole decision, as stored before records were compact.
        Err(_) => serde_json::from_str::<Decision>(&record.decision).map_err(unreadable)?,
    };
    decision.replayed = true;
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_no_limit_statuses_whatever_the_decision_lists() {
        let status = |id: &str| super::super::LimitStatus {
            quota_id: id.into(),
            metric: "m".into(),
            limit: Some(10),
            used: 10,
            remaining: Some(0),
            reset_at: None,
            window: crate::domain::window::Window::None,
        };
        let admitted = Decision {
            allowed: true,
            limits: (0..200).map(|i| status(&format!("limit-{i}"))).collect(),
            retry_after: None,
            lease: None,
            would_refuse: Vec::new(),
            explain: None,
            replayed: false,
        };
        let stored = record("h", &admitted).decision;
        assert!(stored.len() < 40, "{stored}");
        let refused = Decision {
            allowed: false,
            limits: vec![status("tight")],
            retry_after: Some(5),
            ..admitted
        };
        let stored = record("h", &refused).decision;
        assert_eq!(
            stored,
            r#"{"v":1,"allowed":false,"retry_after":5,"refused_by":["tight"]}"#
        );
    }
}
