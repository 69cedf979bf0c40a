//! A queued operation: what it does, the limits it counts against and how.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::batch::{CounterKey, IdempotencyKey};
use super::cache::{CachedLimit, Rules};
use super::{Decision, Usage};
use crate::domain::Result;

/// What to do with the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    Check,
    Consume,
    Report,
    Acquire {
        lease_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    Release {
        lease_id: Uuid,
    },
    /// Gives back units counted earlier (never below 0): a metered request that turned out not
    /// to count.
    Refund,
}

impl Operation {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Operation::Check => "check",
            Operation::Consume => "consume",
            Operation::Report => "report",
            Operation::Acquire { .. } => "acquire",
            Operation::Release { .. } => "release",
            Operation::Refund => "refund",
        }
    }
}

/// One limit a job counts against, in the period it falls in.
pub(crate) struct Matched {
    pub limit: Arc<CachedLimit>,
    pub key: CounterKey,
    pub period_end: i64,
    pub reset_at: Option<DateTime<Utc>>,
    /// The limit's notification rules (often none).
    pub rules: Rules,
    /// Whether it only reports what it would refuse (a shadow limit, or every limit under
    /// `--shadow`).
    pub shadow: bool,
    /// The units the job checks, counts, holds, sets or gives back on this limit.
    pub amount: i64,
    /// What an admitted consume or acquire does with them.
    pub take: Take,
}

/// What an admitted consume or acquire does with a limit's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Counts them for good (in the period).
    Count,
    /// Holds them until the lease is released or expires.
    Hold,
    /// Only checks that they fit (a ceiling on one call, such as an input length).
    Check,
}

impl Take {
    /// What `operation` does with every limit it matches.
    pub(super) fn of(operation: &Operation) -> Self {
        match operation {
            Operation::Acquire { .. } => Take::Hold,
            Operation::Check => Take::Check,
            _ => Take::Count,
        }
    }
}

impl Matched {
    /// The same limit and counter, without its rules (what an explanation needs).
    pub(super) fn shell(&self) -> Self {
        Self {
            limit: self.limit.clone(),
            key: self.key.clone(),
            period_end: self.period_end,
            reset_at: self.reset_at,
            rules: Rules::from(Vec::new()),
            shadow: self.shadow,
            amount: self.amount,
            take: self.take,
        }
    }
}

/// One part of a decision: a usage and what to do with its units.
#[derive(Debug, Clone, Copy)]
pub struct UsagePart<'a> {
    pub usage: &'a Usage,
    pub take: Take,
}

/// One queued operation and where to send its answer.
pub(crate) struct Job {
    pub tenant_id: Uuid,
    pub operation: Operation,
    pub matched: Vec<Matched>,
    pub idempotency: Option<(IdempotencyKey, String)>,
    pub reply: Option<oneshot::Sender<Result<Decision>>>,
}

impl Job {
    /// Whether someone still waits for the answer: false once the caller has gone (its request
    /// was cancelled, say because the client hung up or timed out while the job queued).
    pub fn awaited(&self) -> bool {
        self.reply.as_ref().is_none_or(|reply| !reply.is_closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(reply: Option<oneshot::Sender<Result<Decision>>>) -> Job {
        Job {
            tenant_id: Uuid::nil(),
            operation: Operation::Consume,
            matched: Vec::new(),
            idempotency: None,
            reply,
        }
    }

    #[test]
    fn a_job_is_awaited_until_its_caller_goes_away() {
        let (tx, rx) = oneshot::channel();
        let queued = job(Some(tx));
        assert!(queued.awaited());
        drop(rx);
        assert!(!queued.awaited(), "the caller has gone");
        assert!(job(None).awaited(), "a job answering nobody runs anyway");
    }
}
