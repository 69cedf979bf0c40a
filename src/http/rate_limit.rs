//! Request rate limiting (GCRA, from `governor`) in two buckets over one window: one per key and
//! one per tenant (so a tenant cannot multiply its budget by minting keys). Every authenticated
//! response says where the caller stands in `X-RateLimit-*` headers and in the draft-11
//! `RateLimit-Policy`/`RateLimit` fields (policy `key-requests`, or `tenant-requests` when the
//! tenant's bucket refused); past either limit the answer is 429 with `Retry-After` and the
//! headers of the bucket that refused.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, QuantaClock, QuantaInstant, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::domain::Error;
use crate::domain::clock::ManualClock;
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::http::ratelimit_headers::{self, KEY_REQUESTS, PolicyStanding, TENANT_REQUESTS};
use crate::http::stage::{Inner, Next, Stage};
use crate::state::AppState;

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, LimiterClock, StateInformationMiddleware>;

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

/// `requests` per `window` for each key of a bucket (a key id, or a tenant's id): a burst of
/// `requests`, refilled evenly over the window.
pub struct KeyRateLimiter<K: Hash + Eq + Clone = String> {
    limiter: Limiter<K>,
    clock: LimiterClock,
    requests: u32,
    /// Time to earn back one request.
    per_request: Duration,
    /// The draft-11 policy name the bucket's headers carry.
    policy: &'static str,
    /// `X-RateLimit-Limit`, and the policy's `RateLimit-Policy` item: the same on every answer.
    limit_header: HeaderValue,
    policy_item: String,
}

/// Where a key stands after one request.
struct Standing {
    remaining: u32,
    reset_secs: u64,
    retry_after: Option<u64>,
}

impl<K: Hash + Eq + Clone> KeyRateLimiter<K> {
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
            policy: KEY_REQUESTS,
            limit_header: HeaderValue::from(requests.get()),
            policy_item: policy_item(KEY_REQUESTS, requests.get(), per_request),
        }
    }

    /// The same limiter, its headers naming `policy`.
    fn named(self, policy: &'static str) -> Self {
        Self {
            policy,
            policy_item: policy_item(policy, self.requests, self.per_request),
            ..self
        }
    }

    fn take(&self, key: &K) -> Standing {
        let until_full = |used: u32| ceil_secs(self.per_request * used);
        match self.limiter.check_key(key) {
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
        headers.insert(LIMIT.clone(), self.limit_header.clone());
        headers.insert(REMAINING.clone(), HeaderValue::from(standing.remaining));
        headers.insert(RESET.clone(), HeaderValue::from(standing.reset_secs));
        let standing = PolicyStanding {
            name: self.policy.into(),
            quota: i64::from(self.requests),
            window: None,
            unit: None,
            remaining: i64::from(standing.remaining),
            reset: Some(i64::try_from(standing.reset_secs).unwrap_or(i64::MAX)),
        };
        ratelimit_headers::prepend_one(headers, &self.policy_item, &standing);
    }

    /// Forgets keys idle long enough to be back at a full burst.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The `RateLimit-Policy` item of `requests`, one earned back each `per_request`, named `policy`.
fn policy_item(policy: &str, requests: u32, per_request: Duration) -> String {
    let window = ceil_secs(per_request * requests);
    ratelimit_headers::policy_of(&PolicyStanding {
        name: policy.to_owned().into(),
        quota: i64::from(requests),
        window: Some(i64::try_from(window).unwrap_or(i64::MAX)),
        unit: None,
        remaining: 0,
        reset: None,
    })
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The two buckets every authenticated request draws from.
pub struct RequestRateLimiter {
    /// Per key.
    pub keys: KeyRateLimiter,
    /// Per tenant, shared by all of its keys.
    pub tenants: KeyRateLimiter<Uuid>,
}

/// The bucket whose standing an answer reports.
enum Bucket<'a> {
    Key(&'a KeyRateLimiter),
    Tenant(&'a KeyRateLimiter<Uuid>),
}

impl Bucket<'_> {
    #[cfg(test)]
    fn requests(&self) -> u32 {
        match self {
            Bucket::Key(bucket) => bucket.requests,
            Bucket::Tenant(bucket) => bucket.requests,
        }
    }

    fn write_headers(&self, standing: &Standing, headers: &mut HeaderMap) {
        match self {
            Bucket::Key(bucket) => bucket.write_headers(standing, headers),
            Bucket::Tenant(bucket) => bucket.write_headers(standing, headers),
        }
    }
}

impl RequestRateLimiter {
    /// `key_requests` per key and `tenant_requests` per tenant, each per `window`, on the real
    /// clock.
    pub fn new(key_requests: u32, tenant_requests: u32, window: Duration) -> Self {
        Self::on(key_requests, tenant_requests, window, None)
    }

    /// The same, on `test_clock` when given (`--test-clock`).
    pub fn on(
        key_requests: u32,
        tenant_requests: u32,
        window: Duration,
        test_clock: Option<ManualClock>,
    ) -> Self {
        Self {
            keys: KeyRateLimiter::on(key_requests, window, test_clock.clone()),
            tenants: KeyRateLimiter::on(tenant_requests, window, test_clock).named(TENANT_REQUESTS),
        }
    }

    /// Takes one request from the key's bucket, then (if it had room) from its tenant's: the
    /// bucket whose standing the answer reports (the one that refused, else the key's) and that
    /// standing. A request the key's bucket refuses costs its tenant nothing.
    fn take(&self, key_id: &String, tenant_id: &Uuid) -> (Bucket<'_>, Standing) {
        let by_key = self.keys.take(key_id);
        if by_key.retry_after.is_some() {
            return (Bucket::Key(&self.keys), by_key);
        }
        let by_tenant = self.tenants.take(tenant_id);
        if by_tenant.retry_after.is_some() {
            return (Bucket::Tenant(&self.tenants), by_tenant);
        }
        (Bucket::Key(&self.keys), by_key)
    }

    /// Takes one request for a caller outside the HTTP layers (gRPC): `None` when admitted,
    /// else the seconds to wait.
    pub fn admit(&self, caller: &Caller) -> Option<u64> {
        self.take(&caller.key_id, &caller.tenant_id).1.retry_after
    }

    /// Forgets keys and tenants idle long enough to be back at a full burst.
    pub fn forget_idle(&self) {
        self.keys.forget_idle();
        self.tenants.forget_idle();
    }
}

/// The tenant bucket's default size: ten keys' worth.
pub fn default_tenant_requests(key_requests: u32) -> u32 {
    key_requests.saturating_mul(10)
}

/// The layer: runs after authentication; unauthenticated (public) requests pass untouched.
#[derive(Clone)]
pub struct LimitRate(pub AppState);

impl Stage for LimitRate {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        let state = self.0;
        let Some((bucket, standing)) = request
            .extensions()
            .get::<Caller>()
            .map(|caller| state.rate_limiter.take(&caller.key_id, &caller.tenant_id))
        else {
            return next.run(request).await;
        };
        let mut response = match standing.retry_after {
            Some(retry_after) => ApiError::from(Error::RateLimited { retry_after }).into_response(),
            None => next.run(request).await,
        };
        bucket.write_headers(&standing, response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> String {
        id.to_owned()
    }

    /// Tenant `t`, and another.
    const T: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    #[test]
    fn a_key_gets_its_burst_then_is_refused_with_a_retry_time() {
        let limiter = KeyRateLimiter::new(3, Duration::from_secs(60));
        let remaining: Vec<u32> = (0..3).map(|_| limiter.take(&key("k")).remaining).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limiter.take(&key("k"));
        assert!(refused.retry_after.is_some_and(|s| (1..=20).contains(&s)));
        assert!(limiter.take(&key("other")).retry_after.is_none());
    }

    #[test]
    fn a_tenant_bucket_refuses_a_fresh_key_once_the_tenants_keys_spent_it() {
        let limiter = RequestRateLimiter::new(3, 4, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.take(&key("k1"), &T).1.retry_after.is_none());
        }
        assert!(limiter.take(&key("k2"), &T).1.retry_after.is_none());
        let (bucket, refused) = limiter.take(&key("k2"), &T);
        assert!(refused.retry_after.is_some());
        assert_eq!(bucket.requests(), 4, "the tenant's bucket refused");
        assert!(limiter.take(&key("k3"), &OTHER).1.retry_after.is_none());
    }

    #[test]
    fn a_key_refused_by_its_own_bucket_costs_its_tenant_nothing() {
        let limiter = RequestRateLimiter::new(1, 2, Duration::from_secs(60));
        assert!(limiter.take(&key("k1"), &T).1.retry_after.is_none());
        for _ in 0..5 {
            let (bucket, refused) = limiter.take(&key("k1"), &T);
            assert!(refused.retry_after.is_some());
            assert_eq!(bucket.requests(), 1, "the key's bucket refused");
        }
        assert!(limiter.take(&key("k2"), &T).1.retry_after.is_none());
    }
}
