//! Per-key rate limiting (GCRA, from `governor`): every authenticated response says where the key
//! stands in `X-RateLimit-*` headers and in the draft-11 `RateLimit-Policy`/`RateLimit` fields
//! (policy `key-requests`); past the limit the answer is 429 with `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, QuantaClock, QuantaInstant, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::app::AppState;
use crate::domain::Error;
use crate::domain::clock::ManualClock;
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::http::ratelimit_headers::{self, KEY_REQUESTS, PolicyStanding};

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, LimiterClock, StateInformationMiddleware>;

/// The limiter's time: the monotonic real clock, or with `--test-clock` the server's test clock,
/// so a key's budget refills (and `Retry-After` counts down) only as the test clock moves.
#[derive(Clone)]
enum LimiterClock {
    Real {
        clock: QuantaClock,
        start: QuantaInstant,
    },
    Test(ManualClock),
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            LimiterClock::Real { clock, start } => clock.now().duration_since(*start),
            LimiterClock::Test(clock) => {
                let nanos = crate::domain::clock::Clock::now(clock)
                    .timestamp_nanos_opt()
                    .unwrap_or(0);
                Nanos::from(u64::try_from(nanos).unwrap_or(0))
            }
        }
    }
}

/// `requests` per `window` for each key: a burst of `requests`, refilled evenly over the window.
pub struct KeyRateLimiter {
    limiter: Limiter,
    clock: LimiterClock,
    requests: u32,
    /// Time to earn back one request.
    per_request: Duration,
}

/// Where a key stands after one request.
struct Standing {
    remaining: u32,
    reset_secs: u64,
    retry_after: Option<u64>,
}

impl KeyRateLimiter {
    /// A limiter allowing `requests` per `window` (both at least 1), on the real clock.
    pub fn new(requests: u32, window: Duration) -> Self {
        Self::on(requests, window, None)
    }

    /// A limiter on `test_clock` when given (`--test-clock`), else on the real clock.
    pub fn on(requests: u32, window: Duration, test_clock: Option<ManualClock>) -> Self {
        let requests = NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN);
        let per_request = (window / requests.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(per_request)
            .unwrap_or_else(|| Quota::per_second(requests))
            .allow_burst(requests);
        let clock = match test_clock {
            Some(clock) => LimiterClock::Test(clock),
            None => {
                let clock = QuantaClock::default();
                let start = clock.now();
                LimiterClock::Real { clock, start }
            }
        };
        Self {
            limiter: RateLimiter::<_, _, _, StateInformationMiddleware>::new(
                quota,
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
            requests: requests.get(),
            per_request,
        }
    }

    fn take(&self, key_id: &str) -> Standing {
        let until_full = |used: u32| ceil_secs(self.per_request * used);
        match self.limiter.check_key(&key_id.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Standing {
                    remaining,
                    reset_secs: until_full(self.requests - remaining),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Standing {
                    remaining: 0,
                    reset_secs: ceil_secs(wait) + until_full(self.requests - 1),
                    retry_after: Some(ceil_secs(wait).max(1)),
                }
            }
        }
    }

    fn write_headers(&self, standing: &Standing, headers: &mut HeaderMap) {
        for (name, value) in [
            (&LIMIT, u64::from(self.requests)),
            (&REMAINING, u64::from(standing.remaining)),
            (&RESET, standing.reset_secs),
        ] {
            headers.insert(name.clone(), HeaderValue::from(value));
        }
        let window = ceil_secs(self.per_request * self.requests);
        let policy = PolicyStanding {
            name: KEY_REQUESTS.into(),
            quota: i64::from(self.requests),
            window: Some(i64::try_from(window).unwrap_or(i64::MAX)),
            unit: None,
            remaining: i64::from(standing.remaining),
            reset: Some(i64::try_from(standing.reset_secs).unwrap_or(i64::MAX)),
        };
        ratelimit_headers::prepend(headers, &[policy]);
    }

    /// Forgets keys idle long enough to be back at a full burst.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The layer: runs after authentication; unauthenticated (public) requests pass untouched.
pub async fn limit_rate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key_id) = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.key_id.clone())
    else {
        return next.run(request).await;
    };
    let standing = state.rate_limiter.take(&key_id);
    let mut response = match standing.retry_after {
        Some(retry_after) => ApiError::from(Error::RateLimited { retry_after }).into_response(),
        None => next.run(request).await,
    };
    state
        .rate_limiter
        .write_headers(&standing, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_is_refused_with_a_retry_time() {
        let limiter = KeyRateLimiter::new(3, Duration::from_secs(60));
        let remaining: Vec<u32> = (0..3).map(|_| limiter.take("k").remaining).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limiter.take("k");
        assert!(refused.retry_after.is_some_and(|s| (1..=20).contains(&s)));
        assert!(limiter.take("other").retry_after.is_none());
    }
}
