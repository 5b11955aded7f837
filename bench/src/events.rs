//! Change events: the lag from the SCIM answer to a push receiver's 202, for every SET on every
//! stream of a tenant, at a steady rate of new users; and POST alone in a tenant that has a push
//! stream, beside the same measure without (events must not slow the SCIM path).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use tests::{Api, TestEnv};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::stats::Samples;
use crate::workload;

/// The admin key the benchmark's api runs with (streams are created through /admin/api).
pub const ADMIN_KEY: &str = "bench-admin-key-6f1d2c9e8a7b4035";

/// When each stream's receiver accepted the SET about each user.
type Arrivals = Arc<Mutex<HashMap<(usize, Uuid), Instant>>>;

async fn accept(State(arrivals): State<Arrivals>, Path(stream): Path<usize>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    // The subject's id, from the SET's payload (the signature is the tests' business).
    let subject = std::str::from_utf8(&body)
        .ok()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|c| {
            c["sub_id"]["uri"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .map(str::to_owned)
        })
        .and_then(|id| Uuid::parse_str(&id).ok());
    if let Some(id) = subject {
        arrivals
            .lock()
            .expect("arrivals")
            .entry((stream, id))
            .or_insert(at);
    }
    StatusCode::ACCEPTED
}

/// A receiver for `streams` streams on a port of its own; its endpoints and what it records.
async fn receiver(streams: usize) -> anyhow::Result<(Vec<String>, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route("/hook/{stream}", axum::routing::post(accept))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((
        (0..streams).map(|n| format!("http://{addr}/hook/{n}")).collect(),
        arrivals,
    ))
}

/// A tenant with `streams` push streams to one receiver.
pub async fn tenant_with_streams(
    env: &TestEnv,
    api: &Api,
    streams: usize,
) -> anyhow::Result<(Uuid, String, Arrivals)> {
    let (tenant, token) = env.create_tenant(&format!("bench-events-{streams}"));
    let (endpoints, arrivals) = receiver(streams).await?;
    for endpoint in endpoints {
        let r = env
            .http
            .post(format!("{}/admin/api/tenants/{tenant}/event-streams", api.base))
            .bearer_auth(ADMIN_KEY)
            .json(&serde_json::json!({"delivery": "push", "endpoint": endpoint}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == StatusCode::CREATED,
            "creating a stream: {}",
            r.status()
        );
    }
    Ok((tenant, token, arrivals))
}

pub struct Lag {
    pub streams: usize,
    pub offered: f64,
    pub lag: Samples,
    /// SETs that did not arrive within the wait.
    pub missing: usize,
}

/// Offers `count` new users at `rate` to a tenant with `streams` push streams and measures, for
/// every (stream, user), the time from the api's answer to the receiver's 202.
pub async fn lag(env: &TestEnv, api: &Api, streams: usize, rate: f64, count: usize) -> anyhow::Result<Lag> {
    let (_, token, arrivals) = tenant_with_streams(env, api, streams).await?;
    let (accepted, mut answered) = mpsc::unbounded_channel();
    workload::steady(env, api, &token, rate, count, accepted).await;
    let mut answers = Vec::with_capacity(count);
    while let Ok(a) = answered.try_recv() {
        answers.push(a);
    }
    let want = answers.len() * streams;
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().expect("arrivals").len() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived = arrivals.lock().expect("arrivals").clone();
    let mut lag = Samples::default();
    let mut missing = 0;
    for (id, at) in &answers {
        for s in 0..streams {
            match arrived.get(&(s, *id)) {
                // A SET can beat the client's reading of the answer: that is no lag at all.
                Some(got) => lag.push(got.saturating_duration_since(*at)),
                None => missing += 1,
            }
        }
    }
    Ok(Lag {
        streams,
        offered: rate,
        lag,
        missing,
    })
}

/// POST alone (as part 2) in a tenant that has an event stream, discarded afterwards like
/// part 2's (its changes must not reach the drain); requests per second. A poll stream nobody
/// polls: what is measured is the SCIM path's share (the event row in each write, and the
/// sequencer numbering them), not a deliverer competing for the same two cores.
pub async fn creates_with_a_stream(
    env: &TestEnv,
    api: &Api,
    db: &sea_orm::DatabaseConnection,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let (tenant, token) = env.create_tenant("bench-events-creates");
    let r = env
        .http
        .post(format!("{}/admin/api/tenants/{tenant}/event-streams", api.base))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"delivery": "poll"}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == StatusCode::CREATED,
        "creating a stream: {}",
        r.status()
    );
    let run = workload::import(env, api, &[token], n, concurrency, false).await;
    workload::discard_tenant(env, db, tenant).await;
    Ok(crate::stats::rate(n, run.elapsed))
}
