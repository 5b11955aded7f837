//! What the IdP and an operator saw: every request attempt's outcome, and `/readyz` and the
//! outbox backlog sampled through the run, so each fault window can be described afterwards.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    /// No HTTP answer: the IdP only knows it must retry.
    Transport(Transport),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// Nothing listening (the api is restarting).
    Refused,
    /// No answer within the client's timeout.
    Timeout,
    /// The connection closed before an answer.
    Dropped,
}

impl Transport {
    pub fn of(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Refused
        } else {
            Self::Dropped
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Refused => "connection refused",
            Self::Timeout => "timeout",
            Self::Dropped => "connection dropped",
        }
    }
}

struct Ready {
    at: Instant,
    /// `None`: the api did not answer at all.
    postgres: Option<bool>,
    rabbitmq: Option<bool>,
}

pub struct Observer {
    base: String,
    /// The api's metrics listener (`http://host:port`), kept across api restarts.
    metrics: Option<String>,
    http: reqwest::Client,
    attempts: Mutex<Vec<(Instant, Outcome)>>,
    ready: Mutex<Vec<Ready>>,
    backlog: Mutex<Vec<(Instant, f64)>>,
}

#[derive(Debug, Default)]
pub struct Tally {
    pub sent: usize,
    pub accepted: usize,
    by_outcome: BTreeMap<Outcome, usize>,
}

impl Tally {
    /// Non-2xx answers by status, e.g. `503: 12, transport: 3` (`none` when there were none).
    pub fn errors_line(&self) -> String {
        let parts: Vec<String> = self
            .by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o, Outcome::Status(s) if (200..300).contains(s)))
            .map(|(o, n)| match o {
                Outcome::Status(s) => format!("{s}: {n}"),
                Outcome::Transport(t) => format!("{}: {n}", t.label()),
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// 5xx answers other than 503: the server failing rather than asking the IdP to retry.
    pub fn server_errors(&self) -> usize {
        self.by_outcome
            .iter()
            .filter(|(o, _)| matches!(o, Outcome::Status(s) if *s >= 500 && *s != 503))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every non-2xx answer or missing answer other than a 503: what a cluster run, where the
    /// api is never killed and the queue keeps its majority, must not show.
    pub fn errors_other_than_503(&self) -> usize {
        self.by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o, Outcome::Status(s) if (200..300).contains(s) || *s == 503))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn json(&self) -> Value {
        let by: BTreeMap<String, usize> = self
            .by_outcome
            .iter()
            .map(|(o, n)| match o {
                Outcome::Status(s) => (s.to_string(), *n),
                Outcome::Transport(t) => (t.label().into(), *n),
            })
            .collect();
        json!({"sent": self.sent, "accepted": self.accepted, "by_status": by})
    }
}

/// What `/readyz` said during a window.
#[derive(Debug, Default)]
pub struct Readiness {
    pub samples: usize,
    pub broker_down: usize,
    pub postgres_down: usize,
    pub unanswered: usize,
}

impl Observer {
    pub fn new(base: &str, metrics: Option<&str>) -> Self {
        Self {
            base: base.to_owned(),
            metrics: metrics.map(str::to_owned),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("http client"),
            attempts: Mutex::default(),
            ready: Mutex::default(),
            backlog: Mutex::default(),
        }
    }

    pub fn record(&self, at: Instant, outcome: Outcome) {
        self.attempts.lock().expect("attempts").push((at, outcome));
    }

    /// Attempts answered (or failed) in `window` (all of them without one).
    pub fn tally(&self, window: Option<(Instant, Instant)>) -> Tally {
        let mut t = Tally::default();
        for (at, o) in self.attempts.lock().expect("attempts").iter() {
            if window.is_some_and(|(from, to)| *at < from || *at > to) {
                continue;
            }
            t.sent += 1;
            if matches!(o, Outcome::Status(s) if (200..300).contains(s)) {
                t.accepted += 1;
            }
            *t.by_outcome.entry(*o).or_default() += 1;
        }
        t
    }

    pub fn readiness(&self, (from, to): (Instant, Instant)) -> Readiness {
        let mut r = Readiness::default();
        for s in self.ready.lock().expect("ready").iter() {
            if s.at < from || s.at > to {
                continue;
            }
            r.samples += 1;
            match (s.postgres, s.rabbitmq) {
                (None, _) | (_, None) => r.unanswered += 1,
                (Some(pg), Some(mq)) => {
                    r.postgres_down += usize::from(!pg);
                    r.broker_down += usize::from(!mq);
                }
            }
        }
        r
    }

    pub fn max_backlog(&self, (from, to): (Instant, Instant)) -> Option<f64> {
        self.backlog
            .lock()
            .expect("backlog")
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, n)| *n)
            .reduce(f64::max)
    }

    /// Whether the latest `/readyz` answer said both dependencies are up.
    pub fn ready_now(&self) -> bool {
        self.ready
            .lock()
            .expect("ready")
            .last()
            .is_some_and(|s| s.postgres == Some(true) && s.rabbitmq == Some(true))
    }

    async fn sample(&self, with_metrics: bool) {
        let at = Instant::now();
        let body: Option<Value> = match self.http.get(format!("{}/readyz", self.base)).send().await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        let up = |k: &str| body.as_ref().and_then(|b| b[k].as_str()).map(|s| s == "up");
        self.ready.lock().expect("ready").push(Ready {
            at,
            postgres: up("postgres"),
            rabbitmq: up("rabbitmq"),
        });
        if with_metrics
            && let Some(metrics) = &self.metrics
            && let Ok(r) = self.http.get(format!("{metrics}/metrics")).send().await
            && let Ok(text) = r.text().await
            && let Some(n) = gauge(&text, "scim_outbox_backlog")
        {
            self.backlog.lock().expect("backlog").push((at, n));
        }
    }
}

/// A gauge's value from Prometheus text.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Samples `/readyz` four times a second and the backlog once a second, until aborted.
pub async fn monitor(observer: std::sync::Arc<Observer>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // A sample can take seconds during an outage; catching up in a burst would skew the counts.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0u64.. {
        tick.tick().await;
        observer.sample(i % 4 == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_read_from_prometheus_text() {
        let text = "# TYPE scim_outbox_backlog gauge\nscim_outbox_backlog 42\nscim_outbox_backlog_x 1\n";
        assert_eq!(gauge(text, "scim_outbox_backlog"), Some(42.0));
        assert_eq!(gauge(text, "missing"), None);
    }

    #[test]
    fn errors_are_listed_by_status_and_only_real_server_errors_count() {
        let o = Observer::new("http://x", None);
        let now = Instant::now();
        for outcome in [
            Outcome::Status(201),
            Outcome::Status(503),
            Outcome::Status(503),
            Outcome::Transport(Transport::Refused),
            Outcome::Status(500),
        ] {
            o.record(now, outcome);
        }
        let t = o.tally(None);
        assert_eq!((t.sent, t.accepted), (5, 1));
        assert_eq!(t.errors_line(), "500: 1, 503: 2, connection refused: 1");
        assert_eq!(t.server_errors(), 1);
    }
}
