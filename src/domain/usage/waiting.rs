//! Who goes next: the jobs drawn from a batcher's queue wait here until a batch takes them.
//!
//! Fair between tenants: queued jobs wait per tenant, and a batch takes one job of each tenant
//! in turn until it holds its budget of jobs or counter touches. So a tenant whose every consume
//! meets thousands of limits makes batches no longer than that budget.
//!
//! And no small job waits behind a big one: a job that touches more than [`BIG_JOB`] counters
//! (a consume matching thousands of limits, each of which the batch must read and write) waits in
//! a lane of its own and never shares a batch with small jobs. While both lanes have jobs the
//! batches alternate, so a small job waits for at most one big batch, and big jobs still move.
//! Where the store runs several batches at once (PostgreSQL), big jobs have a batcher of their
//! own (see `path::lane_of`), so there a small job does not wait for a big batch at all.

use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

/// Most counters a job may touch and still ride with small jobs.
pub const BIG_JOB: usize = 256;
/// Most counter touches in a batch of big jobs (one job past it makes a batch alone): a small
/// job that arrives while one runs waits for about this much work at most.
pub const BIG_BATCH_TOUCHES: usize = 1024;

/// Jobs drawn from the queue, waiting per tenant (each with its cost in counter touches), served
/// in turn.
pub(super) struct Waiting<T> {
    by_tenant: HashMap<Uuid, VecDeque<(usize, T)>>,
    /// Tenants with waiting jobs, in the order they are served next.
    turns: VecDeque<Uuid>,
    len: usize,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Self {
            by_tenant: HashMap::new(),
            turns: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> Waiting<T> {
    fn push(&mut self, tenant_id: Uuid, cost: usize, job: T) {
        let queue = self.by_tenant.entry(tenant_id).or_default();
        if queue.is_empty() {
            self.turns.push_back(tenant_id);
        }
        queue.push_back((cost.max(1), job));
        self.len += 1;
    }

    /// The next batch: one job of each tenant in turn, within the batch's budget (at least one
    /// job, whatever its cost).
    fn next_batch(&mut self, out: &mut Vec<T>, max_jobs: usize, max_touches: usize) {
        let mut touches = 0;
        while out.len() < max_jobs {
            let Some(tenant) = self.turns.pop_front() else {
                break;
            };
            let Some(queue) = self.by_tenant.get_mut(&tenant) else {
                continue;
            };
            let cost = queue.front().map_or(0, |(cost, _)| *cost);
            if !out.is_empty() && touches + cost > max_touches {
                self.turns.push_front(tenant);
                break;
            }
            if let Some((_, job)) = queue.pop_front() {
                touches += cost;
                self.len -= 1;
                out.push(job);
            }
            if queue.is_empty() {
                self.by_tenant.remove(&tenant);
            } else {
                self.turns.push_back(tenant);
            }
        }
    }
}

/// The small jobs' lane and the big jobs' lane, served in turn while both have jobs.
pub(super) struct Lanes<T> {
    small: Waiting<T>,
    big: Waiting<T>,
    /// Whether the next batch, with both lanes waiting, is the big lane's.
    big_next: bool,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Self {
            small: Waiting::default(),
            big: Waiting::default(),
            big_next: false,
        }
    }
}

impl<T> Lanes<T> {
    /// Queues `job` of `tenant_id`, which touches `cost` counters, in its lane.
    pub fn push(&mut self, tenant_id: Uuid, cost: usize, job: T) {
        if cost > BIG_JOB {
            self.big.push(tenant_id, cost, job);
        } else {
            self.small.push(tenant_id, cost, job);
        }
    }

    /// How many jobs wait in both lanes.
    pub fn len(&self) -> usize {
        self.small.len + self.big.len
    }

    /// The next batch, from one lane: the small jobs' unless it is the big jobs' turn (or only
    /// they wait).
    pub fn next_batch(&mut self, out: &mut Vec<T>, max_jobs: usize, max_touches: usize) {
        let big = self.big.len > 0 && (self.big_next || self.small.len == 0);
        if big {
            let max_touches = max_touches.min(BIG_BATCH_TOUCHES);
            self.big.next_batch(out, max_jobs, max_touches);
        } else {
            self.small.next_batch(out, max_jobs, max_touches);
        }
        self.big_next = !big;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_job_never_shares_a_batch_with_a_big_one() {
        let (noisy, quiet) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut lanes = Lanes::default();
        lanes.push(noisy, 2000, "big0");
        lanes.push(quiet, 1, "small0");
        lanes.push(noisy, 2000, "big1");
        let mut batch = Vec::new();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["small0"]);
        batch.clear();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["big0"], "a big batch holds one such job");
        assert_eq!(lanes.len(), 1);
    }

    #[test]
    fn small_jobs_queued_behind_a_big_one_go_before_the_next_big_one() {
        let (noisy, quiet) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut lanes = Lanes::default();
        for i in 0..3 {
            lanes.push(noisy, 3000, format!("big{i}"));
        }
        let mut batch = Vec::new();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["big0"], "only big jobs wait: they go");
        for i in 0..2 {
            lanes.push(quiet, 1, format!("small{i}"));
        }
        batch.clear();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["small0", "small1"]);
        lanes.push(quiet, 1, "small2".to_owned());
        batch.clear();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["big1"], "with both waiting, the lanes take turns");
        batch.clear();
        lanes.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["small2"]);
    }

    #[test]
    fn a_tenant_with_only_big_jobs_still_moves_while_small_jobs_keep_coming() {
        let (noisy, quiet) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut lanes = Lanes::default();
        lanes.push(noisy, 2000, "big");
        let mut served = Vec::new();
        for i in 0..3 {
            lanes.push(quiet, 1, "small");
            let mut batch = Vec::new();
            lanes.next_batch(&mut batch, 1024, 4096);
            served.extend(batch);
            assert!(i < 1 || served.contains(&"big"), "{served:?}");
        }
    }

    #[test]
    fn a_tenant_with_heavy_jobs_leaves_room_for_another_in_every_batch() {
        let (heavy, light) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut waiting = Waiting::default();
        for i in 0..6 {
            waiting.push(heavy, 2000, format!("heavy{i}"));
        }
        for i in 0..3 {
            waiting.push(light, 1, format!("light{i}"));
        }
        let mut batch = Vec::new();
        waiting.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["heavy0", "light0", "heavy1", "light1"]);
        batch.clear();
        waiting.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["heavy2", "light2", "heavy3"]);
        assert_eq!(waiting.len, 2);
    }

    #[test]
    fn a_job_past_the_budget_alone_still_makes_a_batch_and_jobs_of_one_tenant_keep_their_order() {
        let tenant = Uuid::from_u128(1);
        let mut waiting = Waiting::default();
        waiting.push(tenant, 10_000, "huge");
        waiting.push(tenant, 0, "small");
        let mut batch = Vec::new();
        waiting.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["huge"]);
        batch.clear();
        waiting.next_batch(&mut batch, 1024, 4096);
        assert_eq!(batch, ["small"]);
        assert!(waiting.by_tenant.is_empty() && waiting.turns.is_empty());
    }
}
