//! Ceilings on what a tenant's writes may create, so no tenant can grow the store (or the
//! engine's cache) without bound: limits per tenant and per metric, limits per vendor quota, and
//! open leases per tenant, and live `per` partitions per limit and period.
//! A bound reached is a clear refusal naming it (409 natively), never a 500.

use super::{Error, Result};

/// Most limits one vendor quota may own (a DataRobot quota with thousands of policies, a client
/// quota with many principals).
pub const MAX_LIMITS_PER_QUOTA: usize = 1_000;

/// The configurable bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most limits one tenant may hold, every owner's together.
    pub limits_per_tenant: i64,
    /// Most limits one tenant may hold on one metric.
    pub limits_per_metric: i64,
    /// Most leases one tenant may hold open at once.
    pub open_leases_per_tenant: i64,
    /// Most `per` partitions (counters) one limit may hold in one period; a usage that would
    /// make one more is refused, while the partitions already there keep counting.
    pub partitions_per_limit: i64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            limits_per_tenant: 100_000,
            limits_per_metric: 50_000,
            open_leases_per_tenant: 100_000,
            partitions_per_limit: 100_000,
        }
    }
}

impl Bounds {
    /// Refuses a write that would take a tenant holding `held` limits (`held_of_metric` of the
    /// metric) past a bound by `adding` more.
    pub fn admit(self, held: i64, held_of_metric: i64, adding: i64) -> Result<()> {
        if adding <= 0 {
            return Ok(());
        }
        if held + adding > self.limits_per_tenant {
            return Err(reached("limits_per_tenant", self.limits_per_tenant));
        }
        if held_of_metric + adding > self.limits_per_metric {
            return Err(reached("limits_per_metric", self.limits_per_metric));
        }
        Ok(())
    }

    /// Refuses a lease to a tenant that holds `open` leases already, as many as it may.
    pub fn admit_lease(self, open: i64) -> Result<()> {
        if open >= self.open_leases_per_tenant {
            return Err(Error::LimitReached {
                message: format!(
                    "the tenant holds as many open leases as it may (open_leases_per_tenant = {}); \
                     release one or let one expire",
                    self.open_leases_per_tenant
                ),
            });
        }
        Ok(())
    }
}

/// The refusal of a usage that would make a new `per` partition of limit `limit_id` when the
/// limit already holds `bound` of them in the period.
pub fn partitions_reached(limit_id: &str, bound: i64) -> Error {
    Error::LimitReached {
        message: format!(
            "the limit {limit_id} holds as many `per` partitions in this period as it may \
             (partitions_per_limit = {bound}); the partitions it holds keep counting"
        ),
    }
}

/// Refuses a vendor quota that would own more than [`MAX_LIMITS_PER_QUOTA`] limits.
pub fn check_quota_size(limits: usize, pointer: &str) -> Result<()> {
    if limits > MAX_LIMITS_PER_QUOTA {
        return Err(Error::invalid_body(
            pointer,
            format!(
                "this quota would need {limits} limits; at most {MAX_LIMITS_PER_QUOTA} are allowed \
                 (limits_per_quota)"
            ),
        ));
    }
    Ok(())
}

fn reached(bound: &str, value: i64) -> Error {
    Error::LimitReached {
        message: format!("the tenant holds as many limits as it may ({bound} = {value})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_refused_only_past_a_bound() {
        let bounds = Bounds {
            limits_per_tenant: 10,
            limits_per_metric: 4,
            open_leases_per_tenant: 2,
            partitions_per_limit: 3,
        };
        assert!(bounds.admit(9, 3, 1).is_ok());
        assert!(bounds.admit(10, 0, 1).is_err());
        assert!(bounds.admit(5, 4, 1).is_err());
        assert!(
            bounds.admit(50, 50, 0).is_ok(),
            "a write adding nothing always passes"
        );
        assert!(bounds.admit_lease(1).is_ok());
        assert!(bounds.admit_lease(2).is_err());
        assert!(check_quota_size(MAX_LIMITS_PER_QUOTA, "/p").is_ok());
        assert!(check_quota_size(MAX_LIMITS_PER_QUOTA + 1, "/p").is_err());
    }
}
