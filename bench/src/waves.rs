//! Waves of requests sent with workers running, each measured for api throughput and latency
//! and for end-to-end lag: a burst of new users (the api's POST /Users throughput), then a wave
//! of profile updates and a wave of deactivations on those users, as Okta sends them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{Api, TestEnv};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::stats::{Samples, rate};
use crate::visibility;

pub struct Wave {
    pub name: &'static str,
    pub requests: usize,
    pub elapsed: Duration,
    pub latency: Samples,
    pub lag: Samples,
    /// The users the wave's requests were about, in order.
    pub ids: Vec<Uuid>,
}

impl Wave {
    pub fn per_s(&self) -> f64 {
        rate(self.requests, self.elapsed)
    }
}

pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Value,
    pub expect: StatusCode,
}

/// Where waves go: one tenant's token on the api, `concurrency` requests in flight.
pub struct Target<'a> {
    pub env: &'a TestEnv,
    pub api: &'a Api,
    pub db: &'a DatabaseConnection,
    pub token: &'a str,
    pub concurrency: usize,
}

/// Sends `requests` with `concurrency` in flight (closed loop: as fast as the api answers) and
/// waits until the product shows each change (`condition`, SQL over `product.users`).
pub async fn run(to: &Target<'_>, name: &'static str, condition: &str, requests: Vec<Request>) -> Wave {
    let Target {
        env,
        api,
        db,
        token,
        concurrency,
    } = *to;
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(visibility::watch(
        db.clone(),
        condition.to_owned(),
        rx,
        Duration::from_secs(120),
    ));
    let latency = Mutex::new(Samples::default());
    let n = requests.len();
    let ids = Mutex::new(vec![Uuid::nil(); n]);
    let started = Instant::now();
    futures_util::stream::iter(requests.into_iter().enumerate())
        .for_each_concurrent(concurrency, |(i, req)| {
            let (latency, ids, tx) = (&latency, &ids, tx.clone());
            async move {
                let t0 = Instant::now();
                let r = env
                    .request(api, req.method, &req.path, Some(token), Some(req.body))
                    .await;
                let answered = Instant::now();
                latency.lock().map(|mut s| s.push(answered - t0)).ok();
                assert_eq!(r.status, req.expect, "{name}: {}", r.body);
                let id = r.id();
                let _ = tx.send((id, answered));
                ids.lock().map(|mut v| v[i] = id).ok();
            }
        })
        .await;
    let elapsed = started.elapsed();
    drop(tx);
    let lag = watcher.await.expect("visibility watcher");
    Wave {
        name,
        requests: n,
        elapsed,
        latency: latency.into_inner().unwrap_or_default(),
        lag,
        ids: ids.into_inner().unwrap_or_default(),
    }
}

/// New users, `POST /Users` only.
pub fn creations(count: usize, tag: &str) -> Vec<Request> {
    (0..count)
        .map(|i| Request {
            method: Method::POST,
            path: "/scim/v2/Users".into(),
            body: crate::workload::user(count, i, tag),
            expect: StatusCode::CREATED,
        })
        .collect()
}

/// Okta's profile push: a PATCH replacing title and department.
pub fn profile_updates(ids: &[Uuid], title: &str) -> Vec<Request> {
    patches(
        ids,
        json!({
            "title": title,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Wave"},
        }),
    )
}

/// Okta's deactivation: a PATCH setting active to false.
pub fn deactivations(ids: &[Uuid]) -> Vec<Request> {
    patches(ids, json!({"active": false}))
}

/// One PATCH per user replacing the attributes in `value` (no path, as Okta sends it).
fn patches(ids: &[Uuid], value: Value) -> Vec<Request> {
    ids.iter()
        .map(|id| Request {
            method: Method::PATCH,
            path: format!("/scim/v2/Users/{id}"),
            body: json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": value}]
            }),
            expect: StatusCode::OK,
        })
        .collect()
}
