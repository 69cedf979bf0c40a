//! CI mode: moving the server's clock forward on request, and forgetting all usage between test
//! cases while keeping tenants, keys and quotas.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use super::clock::{Clock, ManualClock};
use super::{Error, Result};

/// Longest single move: about a hundred years, so no instant overflows.
pub const MAX_ADVANCE_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// Where to move the test clock: by a number of seconds, or to an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Advance(i64),
    To(DateTime<Utc>),
}

/// Moves `clock` forward as `step` says and returns the new instant. The clock never goes back:
/// windows, leases and idempotency records already counted against a later instant would
/// otherwise disagree with it.
pub fn move_forward(clock: &ManualClock, step: Move) -> Result<DateTime<Utc>> {
    let now = clock.now();
    let target = match step {
        Move::Advance(seconds) => {
            if !(0..=MAX_ADVANCE_SECONDS).contains(&seconds) {
                return Err(Error::invalid_body(
                    "/advance_seconds",
                    format!("must be between 0 and {MAX_ADVANCE_SECONDS}"),
                ));
            }
            now + TimeDelta::seconds(seconds)
        }
        Move::To(at) if at < now => {
            return Err(Error::invalid_body(
                "/now",
                format!(
                    "the test clock only moves forward; it is at {}",
                    now.to_rfc3339()
                ),
            ));
        }
        Move::To(at) if at - now > TimeDelta::seconds(MAX_ADVANCE_SECONDS) => {
            return Err(Error::invalid_body(
                "/now",
                "must be within about a hundred years of the test clock",
            ));
        }
        Move::To(at) => at,
    };
    clock.set(target);
    Ok(target)
}

/// The port CI mode needs to forget usage.
pub trait UsageResetStore: Send + Sync {
    /// Deletes every lease, counter, idempotency record and notification event, in one
    /// transaction; tenants, keys, quotas and limits stay. How many rows went.
    fn reset_usage(&self) -> impl Future<Output = Result<u64>> + Send;
}

/// Empties all usage (counters, leases, idempotency records, notification events), keeping
/// tenants, keys, quotas and limits; how many rows went.
pub async fn reset_usage(store: &impl UsageResetStore) -> Result<u64> {
    store.reset_usage().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_test_clock_advances_by_seconds_or_to_a_later_instant() {
        let clock = ManualClock::starting_at(at("2026-03-11T23:59:00Z"));
        let moved = move_forward(&clock, Move::Advance(120)).expect("advance");
        assert_eq!(moved, at("2026-03-12T00:01:00Z"));
        let moved = move_forward(&clock, Move::To(at("2026-04-01T00:00:00Z"))).expect("to");
        assert_eq!(clock.now(), moved);
    }

    #[test]
    fn the_test_clock_never_moves_back() {
        let clock = ManualClock::starting_at(at("2026-03-11T10:00:00Z"));
        let refused = move_forward(&clock, Move::To(at("2026-03-11T09:59:59Z")));
        assert!(matches!(refused, Err(Error::Invalid { .. })));
        assert!(matches!(
            move_forward(&clock, Move::Advance(-1)),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(clock.now(), at("2026-03-11T10:00:00Z"));
    }
}
