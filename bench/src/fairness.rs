//! Fairness between tenants: a quiet tenant's end-to-end lag at its normal rate, alone and while
//! another tenant floods the same api and workers (an import with its rate limit lifted, then a
//! group of as many members pushed by PATCH batches), measured with one lane (every change in
//! the workers' main queue, `SCIM_INTERACTIVE_CHANGES=0`, as before the bulk lane existed) and
//! with the bulk lane (the default share). The flood lasts until the product has all of it, so
//! the quiet tenant is measured through the whole backlog, not only while the api is busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use tests::{Api, TestEnv};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::groups;
use crate::stats::Samples;
use crate::visibility;
use crate::workload;

/// Members per PATCH of the noisy group (Okta sends 100; a flood sends more).
const GROUP_BATCH: usize = 1000;
/// The quiet tenant alone, before each flood.
const ALONE: Duration = Duration::from_secs(10);
/// Longest a flood may take to reach the product.
const FLOOD_LIMIT: Duration = Duration::from_secs(900);

pub struct Row {
    pub lanes: &'static str,
    pub noise: &'static str,
    /// Changes the noisy tenant sent, and how long until the product had them all.
    pub noisy_changes: usize,
    pub noisy_seconds: f64,
    pub quiet: Samples,
}

/// Both settings, each on an api of its own (the share is the api's) and fresh tenants; the
/// workers already running serve both.
pub async fn measure(
    env: &TestEnv,
    db: &DatabaseConnection,
    noisy_users: usize,
    quiet_rate: f64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (lanes, share) in [("one lane", "0"), ("bulk lane", "50")] {
        let api = env
            .spawn_api_with(&[
                ("SCIM_INTERACTIVE_CHANGES", share),
                ("DATABASE_MAX_CONNECTIONS", "16"),
                ("RUST_LOG", "warn"),
            ])
            .await;
        let (noisy_tenant, noisy) = env.create_tenant(&format!("noisy-{share}"));
        let (_, quiet) = env.create_tenant(&format!("quiet-{share}"));
        let q = Quiet {
            env,
            api: &api,
            db,
            token: &quiet,
            rate: quiet_rate,
        };
        eprintln!("fairness, {lanes}: the quiet tenant alone at {quiet_rate}/s...");
        let alone = q.during(async { tokio::time::sleep(ALONE).await }).await;
        rows.push(Row {
            lanes,
            noise: "none",
            noisy_changes: 0,
            noisy_seconds: 0.0,
            quiet: alone,
        });

        eprintln!("fairness, {lanes}: another tenant imports {noisy_users} users...");
        let started = Instant::now();
        let quiet_lag = q
            .during(async {
                workload::import(env, &api, std::slice::from_ref(&noisy), noisy_users, 16, false).await;
                workload::wait_for(
                    db,
                    "noisy import in the product",
                    &format!("select count(*) as n from product.users where tenant_id = '{noisy_tenant}'"),
                    noisy_users as i64,
                    FLOOD_LIMIT,
                )
                .await;
            })
            .await;
        rows.push(Row {
            lanes,
            noise: "import",
            noisy_changes: noisy_users,
            noisy_seconds: started.elapsed().as_secs_f64(),
            quiet: quiet_lag,
        });

        eprintln!("fairness, {lanes}: another tenant pushes a {noisy_users}-member group...");
        let members = tenant_users(db, noisy_tenant).await;
        let started = Instant::now();
        let quiet_lag = q
            .during(async {
                let group = groups::create(env, &api, &noisy, "noisy group").await;
                for batch in members.chunks(GROUP_BATCH) {
                    let add = serde_json::json!([{"op": "add", "path": "members", "value": groups::members(batch)}]);
                    groups::patch(env, &api, &noisy, &group, add).await;
                }
                workload::wait_for(
                    db,
                    "noisy group in the product",
                    &format!("select count(*) as n from product.membership_versions where group_id = '{group}' and member"),
                    members.len() as i64,
                    FLOOD_LIMIT,
                )
                .await;
            })
            .await;
        rows.push(Row {
            lanes,
            noise: "group",
            noisy_changes: members.len(),
            noisy_seconds: started.elapsed().as_secs_f64(),
            quiet: quiet_lag,
        });
    }
    rows
}

async fn tenant_users(db: &DatabaseConnection, tenant: Uuid) -> Vec<Uuid> {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(shared::db::stmt(
        "select id from scim.users where tenant_id = $1 order by id",
        [tenant.into()],
    ))
    .await
    .expect("noisy users")
    .iter()
    .map(|r| r.try_get("", "id").expect("id"))
    .collect()
}

/// The quiet tenant: new users at a steady rate (open loop), each watched until the product
/// has it.
struct Quiet<'a> {
    env: &'a TestEnv,
    api: &'a Api,
    db: &'a DatabaseConnection,
    token: &'a str,
    rate: f64,
}

impl Quiet<'_> {
    /// Sends until `noise` has finished, then waits for the last of its users in the product;
    /// returns their lags.
    async fn during(&self, noise: impl Future<Output = ()>) -> Samples {
        let (accepted, rx) = mpsc::unbounded_channel();
        let watcher = tokio::spawn(visibility::watch(self.db.clone(), "true".into(), rx, FLOOD_LIMIT));
        let done = Arc::new(AtomicBool::new(false));
        let sending = self.send(accepted, done.clone());
        let noisy = async {
            noise.await;
            done.store(true, Ordering::Relaxed);
        };
        tokio::join!(sending, noisy);
        watcher.await.expect("visibility watcher")
    }

    async fn send(&self, accepted: mpsc::UnboundedSender<visibility::Accepted>, done: Arc<AtomicBool>) {
        let interval = Duration::from_secs_f64(1.0 / self.rate.max(0.1));
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sent = futures_util::stream::FuturesUnordered::new();
        let mut i = 0usize;
        loop {
            tokio::select! {
                _ = tick.tick(), if !done.load(Ordering::Relaxed) => {
                    i += 1;
                    let name = format!("quiet{i}-{}@bench.test", Uuid::now_v7().simple());
                    let body = tests::okta_user(&name, "Quiet", "Tenant");
                    let (env, api, token, accepted) = (self.env, self.api, self.token, accepted.clone());
                    sent.push(async move {
                        let r = env.request(api, Method::POST, "/scim/v2/Users", Some(token), Some(body)).await;
                        let answered = Instant::now();
                        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                        let _ = accepted.send((r.id(), answered));
                    });
                }
                Some(()) = futures_util::StreamExt::next(&mut sent), if !sent.is_empty() => {}
                () = tokio::time::sleep(Duration::from_millis(50)), if done.load(Ordering::Relaxed) && sent.is_empty() => break,
            }
        }
    }
}
