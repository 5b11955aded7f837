//! Latency samples and their percentiles.

use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// The p-th percentile (0..=100) in milliseconds; 0 without samples.
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut v = self.0.clone();
        v.sort();
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[idx.min(v.len() - 1)].as_secs_f64() * 1000.0
    }
}

/// Operations per second.
pub fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let mut s = Samples::default();
        for ms in [5, 1, 3, 2, 4] {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.pct_ms(50.0), 3.0);
        assert_eq!(s.pct_ms(100.0), 5.0);
        assert_eq!(s.pct_ms(0.0), 1.0);
        assert_eq!(Samples::default().pct_ms(99.0), 0.0);
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
