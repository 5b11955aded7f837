//! Per-tenant rate limiting: a token bucket per tenant, so one tenant's burst cannot starve the
//! others. Over the limit a request gets 429 with `Retry-After`, which Okta and Entra ID honour
//! by rescheduling the work (unlike a 5xx, which becomes an admin's task).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Sustained requests per second per tenant (Entra ID gallery apps need at least 25).
    pub per_second: f64,
    /// Requests a tenant may make at once after being idle.
    pub burst: f64,
}

pub struct RateLimiter {
    limit: Limit,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `tenant`; `Err(wait)` when none is left.
    pub fn check(&self, tenant: Uuid) -> Result<(), Duration> {
        self.check_at(tenant, Instant::now())
    }

    fn check_at(&self, tenant: Uuid, now: Instant) -> Result<(), Duration> {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(tenant).or_insert(Bucket {
            tokens: self.limit.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(b.refilled).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        b.refilled = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.limit.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let rl = RateLimiter::new(Limit {
            per_second: 10.0,
            burst: 3.0,
        });
        let t = Uuid::now_v7();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(rl.check_at(t, now).is_ok());
        }
        let wait = rl.check_at(t, now).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(rl.check_at(t, now + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn tenants_have_their_own_buckets() {
        let rl = RateLimiter::new(Limit {
            per_second: 1.0,
            burst: 1.0,
        });
        let now = Instant::now();
        assert!(rl.check_at(Uuid::now_v7(), now).is_ok());
        assert!(rl.check_at(Uuid::now_v7(), now).is_ok());
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
}
