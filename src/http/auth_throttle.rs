//! The failed-authentication throttle: a client address that presented too many invalid
//! credentials within a window is answered 429 without a look-up until the window ends, so
//! guessing secrets costs the guesser time and the store nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Failures per client address in fixed windows.
pub struct AuthThrottle {
    max_failures: u32,
    window: Duration,
    /// Read on every authenticated request, written only on failures.
    failures: RwLock<HashMap<IpAddr, (u32, Instant)>>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_FAILURES, Self::DEFAULT_WINDOW)
    }
}

impl AuthThrottle {
    /// Invalid credentials one address may present per window, by default.
    pub const DEFAULT_MAX_FAILURES: u32 = 20;
    /// The window, by default.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    /// Most addresses tracked; past it, those whose window ended are forgotten, then all.
    const MAX_ADDRESSES: usize = 100_000;

    /// A throttle allowing `max_failures` per `window` and address.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: RwLock::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` while `address` has used up its failures.
    pub fn blocked(&self, address: IpAddr) -> Option<u64> {
        let failures = self.failures.read().ok()?;
        let (count, since) = failures.get(&address)?;
        let elapsed = since.elapsed();
        (*count >= self.max_failures && elapsed < self.window)
            .then(|| (self.window - elapsed).as_secs().max(1))
    }

    /// Counts one invalid credential from `address`.
    pub fn failed(&self, address: IpAddr) {
        let Ok(mut failures) = self.failures.write() else {
            return;
        };
        if failures.len() >= Self::MAX_ADDRESSES {
            let window = self.window;
            failures.retain(|_, (_, since)| since.elapsed() < window);
            if failures.len() >= Self::MAX_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(address).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }

    /// Forgets addresses whose window ended (run periodically).
    pub fn forget_idle(&self) {
        if let Ok(mut failures) = self.failures.write() {
            let window = self.window;
            failures.retain(|_, (_, since)| since.elapsed() < window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_and_others_are_not() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let (guesser, other): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
        );
        for _ in 0..2 {
            throttle.failed(guesser);
        }
        assert_eq!(throttle.blocked(guesser), None);
        throttle.failed(guesser);
        assert!(
            throttle
                .blocked(guesser)
                .is_some_and(|s| (1..=60).contains(&s))
        );
        assert_eq!(throttle.blocked(other), None);
    }

    #[test]
    fn a_window_that_ended_starts_over() {
        let throttle = AuthThrottle::new(1, Duration::ZERO);
        let address: IpAddr = "192.0.2.1".parse().expect("ip");
        throttle.failed(address);
        assert_eq!(throttle.blocked(address), None);
    }
}
