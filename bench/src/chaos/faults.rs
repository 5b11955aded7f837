//! The fault timeline: broker and database outages through the operator's own stop/start
//! commands, and SIGKILL of workers and of the api, spread over the load phase.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tests::{Api, TestEnv, Worker};

use crate::events::{self, Receiver};
use crate::observe::Observer;

pub struct Commands {
    pub broker_stop: Option<String>,
    pub broker_start: Option<String>,
    pub postgres_stop: Option<String>,
    pub postgres_start: Option<String>,
}

/// The api, workers and deliverer under test; faults replace them as they kill them.
pub struct Procs {
    api: Mutex<Api>,
    addr: String,
    metrics_addr: String,
    workers: Mutex<Vec<Worker>>,
    deliverer: Mutex<Worker>,
}

impl Procs {
    pub fn start(env: &TestEnv, api: Api, workers: usize) -> Self {
        let addr = api.base.trim_start_matches("http://").to_owned();
        let metrics_addr = api
            .metrics
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches("http://")
            .to_owned();
        Self {
            api: Mutex::new(api),
            addr,
            metrics_addr,
            workers: Mutex::new((0..workers).map(|_| env.spawn_worker()).collect()),
            deliverer: Mutex::new(env.spawn_deliverer_with(&events::DELIVERER_ENV)),
        }
    }
}

impl Procs {
    /// How often the api and the workers connected to a broker node after their first connect:
    /// with several nodes in AMQP_URL each reconnect starts at another node, so this counts how
    /// often they moved (read from their logs, which name the node without its password).
    pub fn node_moves(&self) -> (usize, usize) {
        let moves = |log: String| {
            log.matches("connected to rabbitmq node")
                .count()
                .saturating_sub(1)
        };
        let api = moves(self.api.lock().expect("api").log());
        let workers = self
            .workers
            .lock()
            .expect("workers")
            .iter()
            .map(|w| moves(w.log()))
            .sum();
        (api, workers)
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    BrokerOutage,
    PostgresOutage,
    KillWorker,
    KillApi,
    KillDeliverer,
}

/// When each fault starts, as a fraction of the load phase. (The event receiver's outage runs
/// beside these: see [`receiver_outage`].)
const SCHEDULE: [(f64, Fault); 6] = [
    (0.10, Fault::BrokerOutage),
    (0.28, Fault::KillWorker),
    (0.40, Fault::PostgresOutage),
    (0.56, Fault::KillDeliverer),
    (0.66, Fault::KillApi),
    (0.80, Fault::KillWorker),
];

/// When the event receiver goes away, as a fraction of the load phase.
const RECEIVER_DOWN_AT: f64 = 0.7;

/// How long after a SIGKILL the replacement starts: long enough that the IdP notices.
const RESTART_AFTER: Duration = Duration::from_secs(1);
/// Quiet time between two faults.
pub const SETTLE: Duration = Duration::from_secs(3);
/// How long to wait for `/readyz` after a dependency is started again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(90);

pub struct Window {
    pub name: String,
    pub injected: bool,
    pub from: Instant,
    pub to: Instant,
    note: String,
}

impl Window {
    /// A fault that was injected from `from` until now.
    pub fn injected(name: &str, note: &str, from: Instant) -> Self {
        Self {
            name: name.to_owned(),
            injected: true,
            from,
            to: Instant::now(),
            note: note.to_owned(),
        }
    }

    fn span(&self) -> (Instant, Instant) {
        (self.from, self.to)
    }

    pub fn describe(&self, observer: &Observer) -> String {
        if !self.injected {
            return format!("fault {}: skipped ({})", self.name, self.note);
        }
        let t = observer.tally(Some(self.span()));
        let r = observer.readiness(self.span());
        let backlog = observer
            .max_backlog(self.span())
            .map_or("not sampled".into(), |n| format!("peaked at {n}"));
        format!(
            "fault {} ({}, {:.1} s): the IdP sent {} requests, {} accepted, errors {}; /readyz: broker down in {}, \
             postgres down in {}, unanswered {} of {} samples; outbox backlog {}",
            self.name,
            self.note,
            self.to.duration_since(self.from).as_secs_f64(),
            t.sent,
            t.accepted,
            t.errors_line(),
            r.broker_down,
            r.postgres_down,
            r.unanswered,
            r.samples,
            backlog
        )
    }

    pub fn json(&self, observer: &Observer) -> Value {
        let r = observer.readiness(self.span());
        json!({
            "fault": self.name,
            "injected": self.injected,
            "note": self.note,
            "seconds": self.to.duration_since(self.from).as_secs_f64(),
            "requests": observer.tally(Some(self.span())).json(),
            "readyz": {"samples": r.samples, "broker_down": r.broker_down, "postgres_down": r.postgres_down, "unanswered": r.unanswered},
            "max_outbox_backlog": observer.max_backlog(self.span()),
        })
    }
}

pub async fn run(
    env: &TestEnv,
    procs: Arc<Procs>,
    observer: Arc<Observer>,
    commands: Commands,
    duration: Duration,
    outage: Duration,
) -> anyhow::Result<Vec<Window>> {
    let start = tokio::time::Instant::now();
    let mut windows = Vec::new();
    let mut previous_end = start;
    for (at, fault) in SCHEDULE {
        // Faults never overlap, so each window shows what that one fault did to the IdP.
        tokio::time::sleep_until((start + duration.mul_f64(at)).max(previous_end + SETTLE)).await;
        let from = Instant::now();
        let (name, injected, note) = match fault {
            Fault::BrokerOutage => {
                let done = outage_with(
                    commands.broker_stop.as_deref(),
                    commands.broker_start.as_deref(),
                    outage,
                    &observer,
                )
                .await?;
                ("broker stopped", done, "RabbitMQ stopped, then started")
            }
            Fault::PostgresOutage => {
                let done = outage_with(
                    commands.postgres_stop.as_deref(),
                    commands.postgres_start.as_deref(),
                    outage,
                    &observer,
                )
                .await?;
                ("postgres stopped", done, "Postgres stopped, then started")
            }
            Fault::KillWorker => {
                let mut victim = procs.workers.lock().expect("workers").remove(0);
                victim.kill9();
                tokio::time::sleep(RESTART_AFTER).await;
                procs.workers.lock().expect("workers").push(env.spawn_worker());
                (
                    "worker kill -9",
                    true,
                    "a worker SIGKILLed mid-stream, a new one started",
                )
            }
            Fault::KillDeliverer => {
                procs.deliverer.lock().expect("deliverer").kill9();
                tokio::time::sleep(RESTART_AFTER).await;
                *procs.deliverer.lock().expect("deliverer") =
                    env.spawn_deliverer_with(&events::DELIVERER_ENV);
                (
                    "deliverer kill -9",
                    true,
                    "the event deliverer SIGKILLed mid-stream, a new one started",
                )
            }
            Fault::KillApi => {
                procs.api.lock().expect("api").kill();
                tokio::time::sleep(RESTART_AFTER).await;
                let mut settings = vec![
                    ("SCIM_BIND_ADDR", procs.addr.as_str()),
                    ("SCIM_METRICS_ADDR", procs.metrics_addr.as_str()),
                ];
                settings.extend(events::API_ENV);
                let api = env.spawn_api_with(&settings).await;
                *procs.api.lock().expect("api") = api;
                (
                    "api kill -9",
                    true,
                    "the api SIGKILLed, restarted on the same address",
                )
            }
        };
        let note = if injected {
            note.to_owned()
        } else {
            "no stop/start command given".to_owned()
        };
        windows.push(Window {
            name: name.to_owned(),
            injected,
            from,
            to: Instant::now(),
            note,
        });
        previous_end = tokio::time::Instant::now();
    }
    Ok(windows)
}

/// Takes the event receiver away for `outage`, starting at [`RECEIVER_DOWN_AT`] of the load
/// phase, whatever else is failing then (the receiver is not ours to schedule).
pub async fn receiver_outage(
    receiver: Arc<Receiver>,
    duration: Duration,
    outage: Duration,
) -> anyhow::Result<()> {
    tokio::time::sleep(duration.mul_f64(RECEIVER_DOWN_AT)).await;
    eprintln!("chaos: event receiver down for {} s", outage.as_secs());
    receiver.outage(outage).await?;
    eprintln!("chaos: event receiver back");
    Ok(())
}

/// Stops a dependency, waits, starts it, and waits until the api reports ready again.
/// Returns false (nothing done) when a command is missing.
async fn outage_with(
    stop: Option<&str>,
    start: Option<&str>,
    outage: Duration,
    observer: &Observer,
) -> anyhow::Result<bool> {
    let (Some(stop), Some(start)) = (stop, start) else {
        return Ok(false);
    };
    shell(stop).await?;
    tokio::time::sleep(outage).await;
    shell(start).await?;
    wait_ready(observer, &format!("`{start}`")).await?;
    Ok(true)
}

/// Waits until the api reports ready again after `what` brought a dependency back.
pub async fn wait_ready(observer: &Observer, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + RECOVERY_LIMIT;
    // The monitor samples /readyz 4×/s; a fresh "ready" sample means the api has recovered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while !observer.ready_now() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the api did not report ready within {RECOVERY_LIMIT:?} after {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

async fn shell(cmd: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .await
        .with_context(|| format!("running `{cmd}`"))?;
    anyhow::ensure!(status.success(), "`{cmd}` failed: {status}");
    Ok(())
}
