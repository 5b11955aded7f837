//! Per-tenant rate limiting: a token bucket per tenant (governor's keyed GCRA limiter), so one
//! tenant's burst cannot starve the others. Over the limit a request gets 429 with
//! `Retry-After`, which Okta and Entra ID honour by rescheduling the work (unlike a 5xx, which
//! becomes an admin's task).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Sustained requests per second per tenant (Entra ID gallery apps need at least 25).
    pub per_second: f64,
    /// Requests a tenant may make at once after being idle.
    pub burst: f64,
}

pub struct RateLimiter {
    /// `None` when the limit is off.
    buckets: Option<DefaultKeyedRateLimiter<Uuid>>,
    checks: AtomicU64,
}

/// Every this many checks, buckets that are full again (their tenant idle) are dropped, so the
/// map holds only recently active tenants.
const FORGET_EVERY: u64 = 10_000;

impl RateLimiter {
    pub fn new(limit: Limit) -> Self {
        let buckets = (limit.per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / limit.per_second))
            .and_then(Quota::with_period)
            .map(|q| {
                // `burst` comes from configuration as a float; at least one request passes.
                let burst = NonZeroU32::new(limit.burst.max(1.0).min(f64::from(u32::MAX)) as u32)
                    .unwrap_or(NonZeroU32::MIN);
                DefaultKeyedRateLimiter::keyed(q.allow_burst(burst))
            });
        Self {
            buckets,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token for `tenant`; `Err(wait)` when none is left.
    pub fn check(&self, tenant: Uuid) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            buckets.retain_recent();
        }
        buckets
            .check_key(&tenant)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let rl = RateLimiter::new(Limit {
            per_second: 10.0,
            burst: 3.0,
        });
        let t = Uuid::now_v7();
        for _ in 0..3 {
            assert!(rl.check(t).is_ok());
        }
        let wait = rl.check(t).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        tokio::time::sleep(wait + Duration::from_millis(5)).await;
        assert!(rl.check(t).is_ok());
    }

    #[test]
    fn tenants_have_their_own_buckets() {
        let rl = RateLimiter::new(Limit {
            per_second: 1.0,
            burst: 1.0,
        });
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(rl.check(a).is_ok());
        assert!(rl.check(a).is_err());
        assert!(rl.check(b).is_ok());
    }

    #[test]
    fn a_zero_rate_means_unlimited() {
        let rl = RateLimiter::new(Limit {
            per_second: 0.0,
            burst: 0.0,
        });
        let t = Uuid::now_v7();
        for _ in 0..100 {
            assert!(rl.check(t).is_ok());
        }
    }

    #[test]
    fn a_fractional_rate_is_honoured() {
        let rl = RateLimiter::new(Limit {
            per_second: 0.5,
            burst: 1.0,
        });
        let t = Uuid::now_v7();
        assert!(rl.check(t).is_ok());
        let wait = rl.check(t).unwrap_err();
        assert!(
            wait > Duration::from_millis(1_500) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
    }
}
