//! Availability against hostile and noisy clients: what one client or tenant sends must not take
//! memory, the database pool or the api's concurrency from everyone else. Each test here failed
//! on the code before the fix it guards (issue 13).

mod fairness;
mod hosts;
mod lists;
mod methods;
mod removals;

use std::time::Duration;

pub use tests::World;

/// The `q`-quantile of `samples` (sorted in place).
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}
