//! The one place that uses the `backoff` crate (RUSTSEC-2025-0012: unmaintained; kept because
//! the team's architecture requires it, and its surface here is tiny and fully bounded).
//!
//! `backoff` retries every error unless told it is permanent and, by default, keeps going for
//! 15 minutes. Here every policy states its limits (attempts and elapsed time), and every error
//! is classified through [`Transience`] before it is retried.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backoff::ExponentialBackoffBuilder;

/// Whether an error is worth retrying.
pub trait Transience {
    fn is_transient(&self) -> bool;
}

/// Exponential backoff with jitter and explicit limits.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial_interval: Duration,
    pub max_interval: Duration,
    pub multiplier: f64,
    /// 0.5 means each wait is drawn from [0.5x, 1.5x] of the nominal interval.
    pub randomization_factor: f64,
    /// Give up after this long, whatever the attempt count.
    pub max_elapsed: Duration,
    /// Give up after this many attempts (the first try counts as one).
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Pushing SETs to a receiver that is down or failing (`scim-worker deliver`): the stream
    /// waits between attempts, 0.1 s at first and twice as long each time up to 5 minutes,
    /// until its events run past their retention. Waits up to a second are waited by the
    /// delivering task; longer ones are kept on the stream row (`retry_at`), so they survive a
    /// restart of the deliverer. [`Self::delay_after`] computes them.
    pub const PUSH: Self = Self {
        initial_interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(300),
        multiplier: 2.0,
        randomization_factor: 0.3,
        max_elapsed: Duration::from_secs(7 * 24 * 3600),
        max_attempts: u32::MAX,
    };

    /// The wait before the next attempt after `failures` failed ones, jittered like the
    /// retries of [`retry`].
    pub fn delay_after(&self, failures: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX));
        let nominal = (self.initial_interval.as_secs_f64() * exp).min(self.max_interval.as_secs_f64());
        let jitter = 1.0 + self.randomization_factor * (2.0 * rand::random::<f64>() - 1.0);
        Duration::from_secs_f64((nominal * jitter).max(0.0))
    }

    /// Waiting for Postgres or RabbitMQ at start-up: under `docker compose up` they may take a
    /// minute to accept connections.
    pub const STARTUP: Self = Self {
        initial_interval: Duration::from_millis(200),
        max_interval: Duration::from_secs(5),
        multiplier: 2.0,
        randomization_factor: 0.3,
        max_elapsed: Duration::from_secs(180),
        max_attempts: 200,
    };

    /// A worker applying a change while the database hiccups (restart, failover, deadlock).
    /// Long enough to ride out a database restart; when it runs out the message is requeued,
    /// never dead-lettered, because the change itself is fine.
    pub const APPLY: Self = Self {
        initial_interval: Duration::from_millis(50),
        max_interval: Duration::from_secs(10),
        multiplier: 2.0,
        randomization_factor: 0.5,
        max_elapsed: Duration::from_secs(300),
        max_attempts: 100,
    };

    /// Short retries inside a request: a serialisation conflict or a dropped pooled connection.
    pub const REQUEST: Self = Self {
        initial_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(200),
        multiplier: 2.0,
        randomization_factor: 0.5,
        max_elapsed: Duration::from_secs(2),
        max_attempts: 5,
    };

    fn backoff(&self) -> backoff::ExponentialBackoff {
        ExponentialBackoffBuilder::new()
            .with_initial_interval(self.initial_interval)
            .with_max_interval(self.max_interval)
            .with_multiplier(self.multiplier)
            .with_randomization_factor(self.randomization_factor)
            .with_max_elapsed_time(Some(self.max_elapsed))
            .build()
    }
}

/// Runs `op` until it succeeds, fails with a permanent error, or the policy's limits are reached;
/// returns the last error in the last two cases. Each retry is logged with `what` and the attempt.
pub async fn retry<T, E, F, Fut>(policy: RetryPolicy, what: &'static str, mut op: F) -> Result<T, E>
where
    E: Transience + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt: u32 = 0;
    backoff::future::retry_notify(
        policy.backoff(),
        || {
            attempt += 1;
            let this_attempt = attempt;
            let fut = op();
            async move {
                match fut.await {
                    Ok(v) => Ok(v),
                    Err(e) if e.is_transient() && this_attempt < policy.max_attempts => {
                        Err(backoff::Error::transient(e))
                    }
                    Err(e) => Err(backoff::Error::permanent(e)),
                }
            }
        },
        |err: E, wait: Duration| {
            tracing::warn!(what, error = %err, retry_in_ms = wait.as_millis() as u64, "transient failure, retrying");
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct E(bool);
    impl Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e({})", self.0)
        }
    }
    impl Transience for E {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn push_delays_grow_to_their_cap_within_the_jitter() {
        let p = RetryPolicy::PUSH;
        for (failures, nominal) in [
            (1, 0.1),
            (2, 0.2),
            (3, 0.4),
            (12, 204.8),
            (13, 300.0),
            (400, 300.0),
        ] {
            let d = p.delay_after(failures).as_secs_f64();
            assert!(
                d >= nominal * 0.7 - 1e-9 && d <= nominal * 1.3 + 1e-9,
                "{failures}: {d}"
            );
        }
    }

    const FAST: RetryPolicy = RetryPolicy {
        initial_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(2),
        multiplier: 2.0,
        randomization_factor: 0.0,
        max_elapsed: Duration::from_secs(10),
        max_attempts: 4,
    };

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let out: Result<u32, E> = retry(FAST, "t", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 { Err(E(true)) } else { Ok(n) }
        })
        .await;
        assert_eq!(out.ok(), Some(3));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let out: Result<(), E> = retry(FAST, "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(E(false))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempt_limit() {
        let calls = AtomicU32::new(0);
        let out: Result<(), E> = retry(FAST, "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(E(true))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
