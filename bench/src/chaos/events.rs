//! Change events under chaos: the tenant has a push stream to a receiver of our own that answers
//! 500 at random and goes away for a while, beside the faults of the timeline (the deliverer is
//! SIGKILLed there too). Afterwards every SET of the tenant's gapless sequence must have reached
//! the receiver at least once, and each resource's SETs must have arrived in version order.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tests::TestEnv;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The admin key the chaos api runs with (the stream is created through /admin/api).
pub const ADMIN_KEY: &str = "chaos-admin-key-0e7b5d3c9a1f4862";

/// The api's settings: the admin API on, and push endpoints on this machine allowed.
pub const API_ENV: [(&str, &str); 2] = [
    ("ADMIN_TOKEN", ADMIN_KEY),
    ("EVENTS_ALLOW_INSECURE_ENDPOINTS", "1"),
];

/// The deliverer's settings: the receiver is on this machine, and a killed deliverer's stream is
/// taken over after 10 s rather than 30 (a shorter run, the same path).
pub const DELIVERER_ENV: [(&str, &str); 2] = [
    ("EVENTS_ALLOW_INSECURE_ENDPOINTS", "1"),
    ("EVENTS_PUSH_LEASE_SECS", "10"),
];

/// A SET as the receiver saw it.
#[derive(Debug, Clone)]
struct Arrival {
    jti: String,
    sequence: i64,
    subject: String,
    /// The resource's version after the change (`W/"n"`'s n); none for a delete.
    version: Option<i64>,
}

struct Inner {
    arrivals: Mutex<Vec<Arrival>>,
    refused: AtomicU64,
    failure_rate: f64,
    rng: Mutex<StdRng>,
}

/// The receiver: a real HTTP server that can be taken down and brought back on its address.
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    running: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
    down_for: Mutex<Duration>,
}

impl Receiver {
    pub async fn start(failure_rate: f64, seed: u64) -> anyhow::Result<Arc<Self>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let r = Arc::new(Self {
            addr: listener.local_addr()?,
            inner: Arc::new(Inner {
                arrivals: Mutex::default(),
                refused: AtomicU64::new(0),
                failure_rate,
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
            }),
            running: Mutex::default(),
            down_for: Mutex::default(),
        });
        r.serve(listener);
        Ok(r)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        *self.running.lock().expect("receiver") = Some((stop, task));
    }

    /// Takes the receiver away for `outage`: its port refuses connections meanwhile.
    pub async fn outage(&self, outage: Duration) -> anyhow::Result<()> {
        let running = self.running.lock().expect("receiver").take();
        if let Some((stop, task)) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
        tokio::time::sleep(outage).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("chaos: receiver cannot bind {} yet: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.serve(listener);
        *self.down_for.lock().expect("receiver") += outage;
        Ok(())
    }
}

/// Answers 500 at the configured rate; otherwise records the SET and answers 202 (RFC 8935).
async fn hook(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    if inner.rng.lock().expect("rng").random_bool(inner.failure_rate) {
        inner.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let Some(claims) = claims(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let version = claims["events"]
        .as_object()
        .into_iter()
        .flat_map(|e| e.values())
        .find_map(|e| e["version"].as_str())
        .and_then(|v| v.trim_start_matches("W/").trim_matches('"').parse().ok());
    let (Some(jti), Some(sequence), Some(subject)) = (
        claims["jti"].as_str(),
        claims["sequence"].as_i64(),
        claims["sub_id"]["uri"].as_str(),
    ) else {
        return StatusCode::BAD_REQUEST;
    };
    inner.arrivals.lock().expect("arrivals").push(Arrival {
        jti: jti.to_owned(),
        sequence,
        subject: subject.to_owned(),
        version,
    });
    StatusCode::ACCEPTED
}

/// A SET's claims (the signature is the end-to-end tests' business).
fn claims(body: &[u8]) -> Option<Value> {
    let payload = std::str::from_utf8(body).ok()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Creates the tenant's push stream to the receiver.
pub async fn stream(env: &TestEnv, api_base: &str, tenant: Uuid, receiver: &Receiver) -> anyhow::Result<()> {
    let r = env
        .http
        .post(format!("{api_base}/admin/api/tenants/{tenant}/event-streams"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"delivery": "push", "endpoint": receiver.endpoint()}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == reqwest::StatusCode::CREATED,
        "creating the push stream: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    Ok(())
}

pub struct EventCheck {
    /// The tenant's last sequence number: how many SETs there are.
    pub sequenced: i64,
    /// Distinct SETs received.
    pub received: usize,
    /// Arrivals of a SET already received (dropped by `jti`).
    pub repeats: usize,
    /// Sequence numbers that never arrived.
    pub missing: usize,
    /// SETs that arrived after a later SET of the same resource.
    pub out_of_order: usize,
    /// Changes committed but never numbered.
    pub unnumbered: i64,
    pub refused: u64,
    pub down_for: Duration,
    pub details: Vec<String>,
}

impl EventCheck {
    pub fn failed(&self) -> bool {
        self.sequenced == 0 || self.missing > 0 || self.out_of_order > 0 || self.unnumbered > 0
    }

    pub fn line(&self) -> String {
        format!(
            "events: {} SETs in the tenant's sequence, {} received ({} repeats dropped by jti), missing {}, \
             out of order {}, unnumbered {}; the receiver answered 500 {} times and was down {:.0} s",
            self.sequenced,
            self.received,
            self.repeats,
            self.missing,
            self.out_of_order,
            self.unnumbered,
            self.refused,
            self.down_for.as_secs_f64(),
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "sequenced": self.sequenced,
            "received": self.received,
            "repeats": self.repeats,
            "missing": self.missing,
            "out_of_order": self.out_of_order,
            "unnumbered": self.unnumbered,
            "receiver_500s": self.refused,
            "receiver_down_s": self.down_for.as_secs_f64(),
            "details": self.details,
        })
    }
}

async fn count(db: &DatabaseConnection, sql: &str, tenant: Uuid) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [tenant.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Waits (up to `limit`) until every numbered SET of the tenant has arrived, then checks the
/// sequence and the order per resource.
pub async fn check(
    env: &TestEnv,
    tenant: Uuid,
    receiver: &Receiver,
    limit: Duration,
) -> anyhow::Result<EventCheck> {
    let db = env.db().await;
    let deadline = Instant::now() + limit;
    let (sequenced, unnumbered) = loop {
        let unnumbered = count(
            &db,
            "select count(*) from scim.events where tenant_id = $1 and sequence is null",
            tenant,
        )
        .await?;
        let last = count(
            &db,
            "select coalesce(max(last), 0) from scim.event_sequences where tenant_id = $1",
            tenant,
        )
        .await?;
        let received: HashSet<i64> = receiver
            .inner
            .arrivals
            .lock()
            .expect("arrivals")
            .iter()
            .map(|a| a.sequence)
            .collect();
        let complete = unnumbered == 0 && last > 0 && (1..=last).all(|n| received.contains(&n));
        if complete || Instant::now() > deadline {
            break (last, unnumbered);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let arrivals = receiver.inner.arrivals.lock().expect("arrivals").clone();
    let mut check = EventCheck {
        sequenced,
        received: 0,
        repeats: 0,
        missing: 0,
        out_of_order: 0,
        unnumbered,
        refused: receiver.inner.refused.load(Ordering::Relaxed),
        down_for: *receiver.down_for.lock().expect("receiver"),
        details: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut numbers = BTreeSet::new();
    // Per resource: the last (sequence, version) received.
    let mut last: HashMap<String, (i64, Option<i64>)> = HashMap::new();
    for a in &arrivals {
        if !seen.insert(a.jti.clone()) {
            check.repeats += 1;
            continue;
        }
        numbers.insert(a.sequence);
        if let Some(&(seq, version)) = last.get(&a.subject) {
            let older_version = matches!((version, a.version), (Some(v), Some(w)) if w < v);
            if a.sequence < seq || older_version {
                check.out_of_order += 1;
                if check.details.len() < 20 {
                    check.details.push(format!(
                        "{}: SET {} (version {:?}) arrived after SET {seq} (version {version:?})",
                        a.subject, a.sequence, a.version
                    ));
                }
            }
        }
        last.insert(a.subject.clone(), (a.sequence, a.version));
    }
    check.received = seen.len();
    let missing: Vec<i64> = (1..=sequenced).filter(|n| !numbers.contains(n)).collect();
    check.missing = missing.len();
    if !missing.is_empty() {
        check.details.push(format!(
            "missing sequence numbers (first 20): {:?}",
            &missing[..missing.len().min(20)]
        ));
    }
    Ok(check)
}
