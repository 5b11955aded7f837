//! The convergence test: a seeded, reproducible random workload through the HTTP api with four
//! worker processes, while workers are killed with SIGKILL, messages are published twice and
//! requeued, and every tenant's changes are split across the two lanes; at quiescence
//! `scim-worker verify` must find no difference.
//!
//! `SCIM_CONVERGENCE_SEED=<n>` replays a run (the seed is printed); the large run (about 2,000
//! users) is ignored by default: `cargo nextest run -p tests --run-ignored only convergence`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicNackOptions, BasicPublishOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{AMQP_URL, Api, TestEnv, Worker};
use uuid::Uuid;

use tests::urn::ENTERPRISE;
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CONCURRENCY: usize = 8;
const WORKERS: usize = 4;
const MAX_REQUEUES: usize = 200;

#[tokio::test]
async fn a_random_workload_with_faults_converges() {
    run(3, 40).await;
}

#[tokio::test]
#[ignore = "large: about 2,000 users; run with --run-ignored"]
async fn a_large_random_workload_with_faults_converges() {
    run(3, 667).await;
}

/// A user of the plan: tenant index and user index. Key values are the same in every tenant,
/// so a link that crossed tenants would show up as a difference.
type Who = (usize, usize);

fn user_name(i: usize) -> String {
    format!("u{i}@corp.test")
}

#[derive(Debug, Clone, Copy)]
enum KeyKind {
    UserName,
    AliasEmail,
    EmployeeNumber,
    ExternalId,
    ScimId,
}

#[derive(Debug, Clone)]
enum Op {
    Profile(Who, String),
    Manager(Who, Option<(usize, KeyKind)>),
    Active(Who, bool),
    Put(Who, String),
    Delete(Who),
    /// Tenant, group index, operation.
    Group(usize, usize, GroupOp),
}

#[derive(Debug, Clone)]
enum GroupOp {
    /// Members to add; Okta's form (true) or Entra's (false).
    Add(Vec<usize>, bool),
    Remove(usize, bool),
    Replace(Vec<usize>),
    /// Okta's no-path rename, sent with every membership update.
    Rename(String),
    Delete,
}

const GROUPS_PER_TENANT: usize = 4;

fn reference(i: usize, kind: KeyKind, ids: &HashMap<Who, Uuid>, t: usize) -> String {
    match kind {
        KeyKind::UserName => user_name(i).to_uppercase(),
        KeyKind::AliasEmail => format!("alias{i}@corp.mail"),
        KeyKind::EmployeeNumber => format!("E{i}"),
        KeyKind::ExternalId => format!("00u{i}"),
        KeyKind::ScimId => ids
            .get(&(t, i))
            .map(Uuid::to_string)
            .unwrap_or_else(|| user_name(i)),
    }
}

fn body(i: usize, title: &str, manager: Option<String>) -> Value {
    let mut ext = json!({"employeeNumber": format!("E{i}"), "department": format!("D{}", i % 7)});
    if let Some(m) = manager {
        ext["manager"] = json!({"value": m});
    }
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user_name(i),
        "externalId": format!("00u{i}"),
        "name": {"givenName": format!("G{i}"), "familyName": format!("F{i}")},
        "title": title,
        "emails": [{"value": user_name(i), "type": "work", "primary": true}, {"value": format!("alias{i}@corp.mail"), "type": "other"}],
        "active": true,
        ENTERPRISE: ext,
    })
}

fn random_kind(rng: &mut StdRng, allow_id: bool) -> KeyKind {
    match rng.random_range(0..if allow_id { 5 } else { 4 }) {
        0 => KeyKind::UserName,
        1 => KeyKind::AliasEmail,
        2 => KeyKind::EmployeeNumber,
        3 => KeyKind::ExternalId,
        _ => KeyKind::ScimId,
    }
}

struct Plan {
    /// Creation order (shuffled) with each user's initial manager reference.
    creates: Vec<(Who, Option<(usize, KeyKind)>)>,
    ops: Vec<Op>,
    deleted: HashSet<Who>,
    deleted_groups: HashSet<(usize, usize)>,
}

fn plan(seed: u64, tenants: usize, per_tenant: usize) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creates = Vec::new();
    for t in 0..tenants {
        for i in 0..per_tenant {
            // Managers anywhere in the tenant, so many reports arrive before their manager.
            let manager = (i > 0 && rng.random_bool(0.85))
                .then(|| (rng.random_range(0..per_tenant), random_kind(&mut rng, false)))
                .filter(|(m, _)| *m != i);
            creates.push(((t, i), manager));
        }
    }
    creates.shuffle(&mut rng);
    // Users deleted at some point: decided up front, so group members are never among them
    // (adding a deleted user to a group is refused, by design).
    let deleted: HashSet<Who> = (0..tenants)
        .flat_map(|t| (0..per_tenant).map(move |i| (t, i)))
        .filter(|_| rng.random_bool(0.05))
        .collect();
    let stable: Vec<usize> = (0..per_tenant).collect();
    let pick = |rng: &mut StdRng, t: usize, n: usize| -> Vec<usize> {
        (0..n)
            .map(|_| stable[rng.random_range(0..per_tenant)])
            .filter(|i| !deleted.contains(&(t, *i)))
            .collect()
    };
    let mut ops = Vec::new();
    let mut deleted_groups = HashSet::new();
    let mut pending_deletes: Vec<Who> = deleted.iter().copied().collect();
    pending_deletes.sort();
    pending_deletes.shuffle(&mut rng);
    for n in 0..tenants * per_tenant * 3 / 2 {
        if rng.random_range(0..3) == 0 {
            let (t, g) = (
                rng.random_range(0..tenants),
                rng.random_range(0..GROUPS_PER_TENANT),
            );
            if deleted_groups.contains(&(t, g)) {
                continue;
            }
            let op = match rng.random_range(0..100) {
                0..40 => {
                    let n = rng.random_range(1..6);
                    GroupOp::Add(pick(&mut rng, t, n), rng.random_bool(0.5))
                }
                40..70 => GroupOp::Remove(rng.random_range(0..per_tenant), rng.random_bool(0.5)),
                70..80 => {
                    let n = rng.random_range(0..8);
                    GroupOp::Replace(pick(&mut rng, t, n))
                }
                // Rare, so that most groups live long enough to churn.
                _ if rng.random_bool(0.98) => GroupOp::Rename(format!(
                    "group-{g}-{}",
                    if rng.random_bool(0.5) { "renamed" } else { "base" }
                )),
                _ => {
                    deleted_groups.insert((t, g));
                    GroupOp::Delete
                }
            };
            ops.push(Op::Group(t, g, op));
            continue;
        }
        let who = (rng.random_range(0..tenants), rng.random_range(0..per_tenant));
        if rng.random_range(0..100) < 8 {
            if let Some(victim) = pending_deletes.pop() {
                ops.push(Op::Delete(victim));
            }
            continue;
        }
        ops.push(match rng.random_range(0..100) {
            0..25 => Op::Profile(who, format!("title-{n}")),
            25..55 => {
                let target = rng.random_range(0..per_tenant);
                Op::Manager(
                    who,
                    rng.random_bool(0.85)
                        .then(|| (target, random_kind(&mut rng, true))),
                )
            }
            55..75 => Op::Active(who, rng.random_bool(0.5)),
            _ => Op::Put(who, format!("put-{n}")),
        });
    }
    ops.extend(pending_deletes.into_iter().map(Op::Delete));
    Plan {
        creates,
        ops,
        deleted,
        deleted_groups,
    }
}

struct Run {
    env: TestEnv,
    api: Api,
    tokens: Vec<String>,
    ids: Mutex<HashMap<Who, Uuid>>,
    deleted: HashSet<Who>,
    groups: Mutex<HashMap<(usize, usize), Uuid>>,
    deleted_groups: HashSet<(usize, usize)>,
}

impl Run {
    async fn send(&self, t: usize, method: Method, path: &str, body: Option<Value>) -> tests::Response {
        self.env
            .request(
                &self.api,
                method,
                &format!("/scim/v2{path}"),
                Some(&self.tokens[t]),
                body,
            )
            .await
    }

    fn id(&self, who: Who) -> Uuid {
        self.ids.lock().unwrap()[&who]
    }

    async fn execute(&self, op: &Op) {
        if let Op::Group(t, g, op) = op {
            return self.execute_group(*t, *g, op).await;
        }
        let ids = self.ids.lock().unwrap().clone();
        let (who, method, body) = match op {
            Op::Profile(who, title) => (
                *who,
                Method::PATCH,
                patch(json!([
                    {"op": "replace", "path": "title", "value": title},
                    {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": format!("{title}-dept")}
                ])),
            ),
            Op::Manager(who, None) => (
                *who,
                Method::PATCH,
                patch(json!([{"op": "remove", "path": format!("{ENTERPRISE}:manager")}])),
            ),
            Op::Manager(who, Some((m, kind))) => {
                let value = reference(*m, *kind, &ids, who.0);
                // Entra sends a bare string by URN path; Okta an object.
                let v = if matches!(kind, KeyKind::ScimId) {
                    json!(value)
                } else {
                    json!({"value": value})
                };
                (
                    *who,
                    Method::PATCH,
                    patch(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": v}])),
                )
            }
            Op::Active(who, active) => (
                *who,
                Method::PATCH,
                patch(json!([{"op": "replace", "value": {"active": active}}])),
            ),
            Op::Put(who, title) => (*who, Method::PUT, Some(body(who.1, title, None))),
            Op::Delete(who) => (*who, Method::DELETE, None),
            Op::Group(..) => unreachable!("handled above"),
        };
        let r = self
            .send(who.0, method, &format!("/Users/{}", self.id(who)), body)
            .await;
        let tolerated = r.status == StatusCode::NOT_FOUND && self.deleted.contains(&who);
        assert!(
            r.status.is_success() || tolerated,
            "{op:?}: {} {}",
            r.status,
            r.body
        );
    }
}

impl Run {
    async fn execute_group(&self, t: usize, g: usize, op: &GroupOp) {
        let ids = self.ids.lock().unwrap().clone();
        let id = self.groups.lock().unwrap()[&(t, g)];
        let member = |i: &usize| json!({"value": ids[&(t, *i)].to_string(), "display": user_name(*i)});
        let (method, body) = match op {
            GroupOp::Add(users, true) => (
                Method::PATCH,
                patch(
                    json!([{"op": "add", "path": "members", "value": users.iter().map(member).collect::<Vec<_>>()}]),
                ),
            ),
            GroupOp::Add(users, false) => (
                Method::PATCH,
                patch(
                    json!([{"op": "Add", "path": "members", "value": users.iter().map(|i| json!({"value": ids[&(t, *i)].to_string()})).collect::<Vec<_>>()}]),
                ),
            ),
            GroupOp::Remove(i, true) => (
                Method::PATCH,
                patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[&(t, *i)])}])),
            ),
            GroupOp::Remove(i, false) => (
                Method::PATCH,
                patch(
                    json!([{"op": "Remove", "path": "members", "value": [{"value": ids[&(t, *i)].to_string()}]}]),
                ),
            ),
            GroupOp::Replace(users) => (
                Method::PATCH,
                patch(
                    json!([{"op": "replace", "path": "members", "value": users.iter().map(member).collect::<Vec<_>>()}]),
                ),
            ),
            GroupOp::Rename(name) => (
                Method::PATCH,
                patch(json!([{"op": "replace", "value": {"id": id.to_string(), "displayName": name}}])),
            ),
            GroupOp::Delete => (Method::DELETE, None),
        };
        let r = self.send(t, method, &format!("/Groups/{id}"), body).await;
        let tolerated = r.status == StatusCode::NOT_FOUND && self.deleted_groups.contains(&(t, g));
        assert!(
            r.status.is_success() || tolerated,
            "group {op:?}: {} {}",
            r.status,
            r.body
        );
    }
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": [PATCH], "Operations": ops}))
}

#[derive(Default)]
struct Faults {
    killed: usize,
    duplicated: usize,
    requeued: usize,
}

async fn chaos(run: &Run, workers: &Mutex<Vec<Worker>>, stop: &tokio::sync::Notify, faults: &Mutex<Faults>) {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let db = run.env.db().await;
    // A consumer among the workers that puts back what it is given: those messages are
    // redelivered later, out of order. After each bounce it steps away for a moment, so the
    // message goes to a worker rather than straight back to it: every bounce counts towards the
    // queue's delivery limit, and a message bounced 20 times would be dead-lettered.
    let requeuer = conn.create_channel().await.unwrap();
    requeuer.basic_qos(1, Default::default()).await.unwrap();
    let requeue_task = async {
        loop {
            let mut deliveries = requeuer
                .basic_consume(
                    run.env.queue.as_str().into(),
                    "chaos-requeue".into(),
                    Default::default(),
                    Default::default(),
                )
                .await
                .unwrap();
            let Some(Ok(d)) = deliveries.next().await else {
                break;
            };
            d.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .unwrap();
            requeuer
                .basic_cancel("chaos-requeue".into(), Default::default())
                .await
                .unwrap();
            // Whatever arrived before the cancel took effect goes back too (the stream ends
            // once the cancel is confirmed), so no message stays held by this channel.
            while let Some(Ok(late)) = deliveries.next().await {
                late.nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .unwrap();
            }
            let done = {
                let mut f = faults.lock().unwrap();
                f.requeued += 1;
                f.requeued >= MAX_REQUEUES
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Stop consuming, but keep the select below polling something that never ends.
        std::future::pending::<()>().await;
    };
    tokio::pin!(requeue_task);
    let mut round = 0u32;
    loop {
        round += 1;
        if round % 8 == 3 {
            // kill -9 a worker mid-stream and start a new one.
            let mut ws = workers.lock().unwrap();
            ws[0].kill9();
            ws[0] = run.env.spawn_worker();
            faults.lock().unwrap().killed += 1;
        }
        // Publish a few already-published changes a second time.
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "select routing_key, payload::text as p from scim.outbox where published_at is not null order by random() limit 3",
            ))
            .await
            .unwrap();
        for r in rows {
            let key: String = r.try_get("", "routing_key").unwrap();
            let payload: String = r.try_get("", "p").unwrap();
            ch.basic_publish(
                run.env.exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                payload.as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
            faults.lock().unwrap().duplicated += 1;
        }
        tokio::select! {
            () = stop.notified() => break,
            () = tokio::time::sleep(Duration::from_millis(150)) => {}
            () = &mut requeue_task => {}
        }
    }
    let _ = requeuer.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
}

async fn run(tenants: usize, per_tenant: usize) {
    let seed = std::env::var("SCIM_CONVERGENCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!(
        "convergence: seed {seed} ({tenants} tenants x {per_tenant} users); replay with SCIM_CONVERGENCE_SEED={seed}"
    );
    let p = plan(seed, tenants, per_tenant);
    let env = TestEnv::new().await;
    // A small interactive share, so that every tenant's changes are split across both lanes
    // and the workers see them in yet another order.
    let api = env
        .spawn_api_with(&[
            ("SCIM_INTERACTIVE_CHANGES", "5"),
            ("SCIM_INTERACTIVE_BURST", "10"),
        ])
        .await;
    let workers = Mutex::new((0..WORKERS).map(|_| env.spawn_worker()).collect::<Vec<_>>());
    let tokens = (0..tenants)
        .map(|t| env.create_tenant(&format!("tenant-{t}")).1)
        .collect();
    let run = Arc::new(Run {
        env,
        api,
        tokens,
        ids: Mutex::default(),
        deleted: p.deleted.clone(),
        groups: Mutex::default(),
        deleted_groups: p.deleted_groups.clone(),
    });
    let stop = tokio::sync::Notify::new();
    let faults = Mutex::new(Faults::default());
    let started = Instant::now();

    let workload = async {
        let ids = &run.ids;
        futures_util::stream::iter(p.creates.iter().cloned())
            .for_each_concurrent(CONCURRENCY, |(who, manager)| {
                let run = run.clone();
                async move {
                    let ids_now = run.ids.lock().unwrap().clone();
                    let m = manager.map(|(m, k)| reference(m, k, &ids_now, who.0));
                    let r = run
                        .send(who.0, Method::POST, "/Users", Some(body(who.1, "initial", m)))
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                    ids.lock().unwrap().insert(who, r.id());
                }
            })
            .await;
        for t in 0..tenants {
            for g in 0..GROUPS_PER_TENANT {
                let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("group-{g}-base"), "members": []});
                let r = run.send(t, Method::POST, "/Groups", Some(body)).await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                run.groups.lock().unwrap().insert((t, g), r.id());
            }
        }
        futures_util::stream::iter(p.ops.iter())
            .for_each_concurrent(CONCURRENCY, |op| {
                let run = run.clone();
                async move { run.execute(op).await }
            })
            .await;
        stop.notify_one();
    };
    tokio::join!(workload, chaos(&run, &workers, &stop, &faults));
    let requests = p.creates.len() + p.ops.len();

    // Quiescence: wait until verify finds nothing, or give up and show what it found.
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let (ok, lines) = run.env.worker_cli(&["verify"]);
        if ok {
            break lines;
        }
        if Instant::now() > deadline {
            let shown: Vec<String> = lines.iter().take(20).map(Value::to_string).collect();
            panic!("seed {seed}: no convergence; differences:\n{}", shown.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let f = faults.lock().unwrap();
    eprintln!(
        "convergence: seed {seed}: {requests} requests, {} workers killed, {} duplicates, {} requeues, converged in {:?}; verify: {}",
        f.killed,
        f.duplicated,
        f.requeued,
        started.elapsed(),
        last.last().cloned().unwrap_or_default()
    );
    assert!(
        f.killed > 0 && f.duplicated > 0 && f.requeued > 0,
        "faults were injected"
    );
    drop(workers);
}
