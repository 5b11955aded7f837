//! Per-tenant rate limiting: a token bucket per tenant (governor's keyed GCRA limiter), so one
//! tenant's burst cannot starve the others. Over the limit a request gets 429 with
//! `Retry-After`, which Okta and Entra ID honour by rescheduling the work (unlike a 5xx, which
//! becomes an admin's task).

use std::time::Duration;

use shared::tenant_buckets::TenantBuckets;
use uuid::Uuid;

/// Sustained requests per second per tenant (Entra ID gallery apps need at least 25), and
/// requests a tenant may make at once after being idle.
pub use shared::tenant_buckets::Rate as Limit;

pub struct RateLimiter(TenantBuckets);

impl RateLimiter {
    pub fn new(limit: Limit) -> Self {
        Self(TenantBuckets::new(limit))
    }

    /// Takes one token for `tenant`; `Err(wait)` when none is left.
    pub fn check(&self, tenant: Uuid) -> Result<(), Duration> {
        self.0.take(tenant)
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
