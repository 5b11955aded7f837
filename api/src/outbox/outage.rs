//! Publishing through an outage (broker or database): the dispatcher stops trying for a moment
//! after a failure (the relay sends those rows later), and both log the outage once when it
//! starts, a reminder while it lasts, and once when it ends — not one line per request.

use std::time::{Duration, Instant};

/// After a failed publish, the dispatcher leaves new changes to the relay this long.
pub const COOL_DOWN: Duration = Duration::from_secs(1);
/// While failures go on, a reminder is logged this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    failures: u64,
    retry_at: Option<Instant>,
    reminded_at: Option<Instant>,
}

impl Outage {
    /// Whether a publish should be tried now (false during the cool-down after a failure).
    pub fn should_try(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    pub fn failed(&mut self, what: &'static str, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        self.failures += 1;
        self.retry_at = Some(now + COOL_DOWN);
        match self.since {
            None => {
                self.since = Some(now);
                self.reminded_at = Some(now);
                tracing::warn!(%error, "{what}: publishing failed; committed changes stay in the outbox and are retried");
            }
            Some(since)
                if self
                    .reminded_at
                    .is_none_or(|r| now.duration_since(r) >= REMIND_EVERY) =>
            {
                self.reminded_at = Some(now);
                tracing::warn!(
                    %error,
                    failing_for_s = now.duration_since(since).as_secs(),
                    attempts = self.failures,
                    "{what}: publishing still failing"
                );
            }
            Some(_) => tracing::debug!(%error, "{what}: publishing failed again"),
        }
    }

    pub fn succeeded(&mut self, what: &'static str) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                outage_s = since.elapsed().as_secs_f64(),
                attempts = self.failures,
                "{what}: publishing again"
            );
        }
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_pauses_tries_for_the_cool_down_and_success_resets() {
        let mut o = Outage::default();
        let now = Instant::now();
        assert!(o.should_try(now));
        o.failed("test", &"refused");
        assert!(!o.should_try(Instant::now()));
        assert!(o.should_try(Instant::now() + COOL_DOWN));
        o.failed("test", &"refused");
        assert_eq!(o.failures, 2);
        o.succeeded("test");
        assert!(o.should_try(Instant::now()));
        assert_eq!(o.failures, 0);
    }
}
