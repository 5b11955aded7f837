//! A token bucket per tenant (governor's keyed GCRA limiter) that forgets quiet tenants, so its
//! map holds only recently active ones. The api's rate limit and the lanes' interactive share
//! are both one of these.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

/// A rate per tenant: `per_second` tokens a second, at most `burst` at once (at least one);
/// a rate of 0 or less means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

pub struct TenantBuckets {
    /// `None` when the rate is 0: every take succeeds.
    buckets: Option<DefaultKeyedRateLimiter<Uuid>>,
    takes: AtomicU64,
}

/// Every this many takes, buckets that are full again (their tenant quiet) are dropped.
const FORGET_EVERY: u64 = 10_000;

impl TenantBuckets {
    pub fn new(Rate { per_second, burst }: Rate) -> Self {
        let buckets = (per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / per_second))
            .and_then(Quota::with_period)
            .map(|q| {
                // `burst` comes from configuration as a float.
                let burst =
                    NonZeroU32::new(burst.clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
                DefaultKeyedRateLimiter::keyed(q.allow_burst(burst))
            });
        Self {
            buckets,
            takes: AtomicU64::new(0),
        }
    }

    /// Takes one token for `tenant`; `Err(wait)` until the next one when none is left.
    pub fn take(&self, tenant: Uuid) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        if self.takes.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            buckets.retain_recent();
        }
        buckets
            .check_key(&tenant)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}
