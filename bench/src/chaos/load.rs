//! The IdP side: clients that provision users and a group each, and retry like Okta does when
//! the answer is a 503, a 429 or no answer at all. Each client keeps a model of what the server
//! accepted, so the check afterwards can tell whether an accepted write was lost.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::observe::{Observer, Outcome, Transport};

use tests::urn::ENTERPRISE;
/// An IdP gives up on a change eventually and alerts; this long after the load it is a loss.
const GIVE_UP_AFTER_LOAD: Duration = Duration::from_secs(120);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

#[derive(Debug, Clone)]
pub struct UserModel {
    pub id: Uuid,
    pub user_name: String,
    pub active: bool,
    pub title: String,
    pub department: String,
    pub manager: Option<Uuid>,
    pub deleted: bool,
}

#[derive(Debug, Default)]
pub struct Model {
    pub users: Vec<UserModel>,
    pub group: Option<Uuid>,
    pub members: BTreeSet<Uuid>,
    /// Changes the client gave up on after an ambiguous attempt: their outcome is unknown, so
    /// the resources they touched are not checked (and counted, so a run with any is visible).
    pub abandoned: usize,
    pub uncertain: BTreeSet<Uuid>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    observer: Arc<Observer>,
    give_up: Instant,
}

/// The answer that settled a change, after retries.
struct Settled {
    status: StatusCode,
    body: Value,
    /// An earlier attempt may have been applied without the client hearing the answer.
    ambiguous: bool,
}

impl Client {
    /// Sends until the answer is neither a transport error, a 5xx nor a 429; `None` when the
    /// client gives up.
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Option<Settled> {
        let mut ambiguous = false;
        let mut backoff = Duration::from_millis(250);
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("User-Agent", tests::OKTA_UA)
                .header("Accept", "application/scim+json");
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/scim+json")
                    .body(b.to_string());
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    self.observer
                        .record(Instant::now(), Outcome::Status(status.as_u16()));
                    if !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Some(Settled {
                            status,
                            body,
                            ambiguous,
                        });
                    }
                    // A 503 is an explicit "not applied"; other 5xx might have been.
                    ambiguous |= status != StatusCode::SERVICE_UNAVAILABLE;
                    retry_after
                }
                Err(e) => {
                    let kind = Transport::of(&e);
                    self.observer.record(Instant::now(), Outcome::Transport(kind));
                    ambiguous = true;
                    None
                }
            };
            if Instant::now() > self.give_up {
                return None;
            }
            tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_BACKOFF)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

pub async fn run(
    base: &str,
    token: &str,
    clients: usize,
    seed: u64,
    load_ends: Instant,
    observer: Arc<Observer>,
) -> Vec<Model> {
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let client = Client {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(35))
                    .build()
                    .expect("http client"),
                base: base.to_owned(),
                token: token.to_owned(),
                observer: observer.clone(),
                give_up: load_ends + GIVE_UP_AFTER_LOAD,
            };
            tokio::spawn(client_loop(client, n, seed.wrapping_add(n as u64), load_ends))
        })
        .collect();
    let mut models = Vec::new();
    for t in tasks {
        models.push(t.await.expect("client task"));
    }
    models
}

async fn client_loop(c: Client, n: usize, seed: u64, load_ends: Instant) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut m = Model::default();
    let run = Uuid::new_v4().simple().to_string();
    while Instant::now() < load_ends {
        let live: Vec<usize> = (0..m.users.len()).filter(|i| !m.users[*i].deleted).collect();
        if m.group.is_none() && live.len() >= 3 {
            create_group(&c, &mut m, &format!("chaos-{}-{n}", &run[..8])).await;
            continue;
        }
        let roll = rng.random_range(0..100);
        if live.len() < 5 || roll < 30 {
            let i = m.users.len();
            let manager = (!live.is_empty() && rng.random_bool(0.7))
                .then(|| m.users[live[rng.random_range(0..live.len())]].id);
            create_user(
                &c,
                &mut m,
                &format!("u{i}-c{n}-{}@chaos.test", &run[..8]),
                manager,
            )
            .await;
            continue;
        }
        let pick = live[rng.random_range(0..live.len())];
        match roll {
            30..55 => {
                let manager = m.users[live[rng.random_range(0..live.len())]].id;
                let manager = (manager != m.users[pick].id).then_some(manager);
                let title = format!("Title {}", rng.random_range(0..1000));
                let dept = format!("Dept {}", rng.random_range(0..20));
                patch_profile(&c, &mut m, pick, title, dept, manager).await;
            }
            55..70 => {
                let active = !m.users[pick].active;
                patch_active(&c, &mut m, pick, active).await;
            }
            70..80 => {
                let title = format!("Put {}", rng.random_range(0..1000));
                put_user(&c, &mut m, pick, title).await;
            }
            80..85 => delete_user(&c, &mut m, pick).await,
            _ => {
                let add = m.members.len() < 2 || rng.random_bool(0.6);
                let user = m.users[pick].id;
                members(&c, &mut m, user, add).await;
            }
        }
    }
    m
}

fn user_body(u: &UserModel) -> Value {
    let (given, family) = u.user_name.split_once('@').unwrap_or((&u.user_name, "x"));
    let mut enterprise = json!({"department": u.department});
    if let Some(mgr) = u.manager {
        enterprise["manager"] = json!({"value": mgr.to_string()});
    }
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": u.user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": u.user_name, "type": "work"}],
        "title": u.title,
        "active": u.active,
        ENTERPRISE: enterprise,
    })
}

fn id_of(body: &Value) -> Option<Uuid> {
    body["id"].as_str().and_then(|s| Uuid::parse_str(s).ok())
}

async fn create_user(c: &Client, m: &mut Model, user_name: &str, manager: Option<Uuid>) {
    let mut u = UserModel {
        id: Uuid::nil(),
        user_name: user_name.to_owned(),
        active: true,
        title: "Engineer".into(),
        department: "Dept 0".into(),
        manager,
        deleted: false,
    };
    let Some(s) = c.send(Method::POST, "/scim/v2/Users", Some(&user_body(&u))).await else {
        m.abandoned += 1;
        return;
    };
    let id = match s.status {
        StatusCode::CREATED => id_of(&s.body),
        // An earlier attempt was applied but its answer lost: find the user as Okta would.
        StatusCode::CONFLICT if s.ambiguous => {
            let filter = format!("userName eq \"{user_name}\"");
            let q = format!("/scim/v2/Users?filter={}", tests::urlencode(&filter));
            match c.send(Method::GET, &q, None).await {
                Some(found) => found.body["Resources"][0]["id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok()),
                None => None,
            }
        }
        _ => None,
    };
    match id {
        Some(id) => {
            u.id = id;
            m.users.push(u);
        }
        None => m.abandoned += 1,
    }
}

/// Settles a change to one user: applied → `apply` updates the model; anything else leaves
/// the user uncertain (checked no further).
fn settle(
    m: &mut Model,
    i: usize,
    s: Option<Settled>,
    ok: &[StatusCode],
    apply: impl FnOnce(&mut UserModel),
) {
    match s {
        Some(s) if ok.contains(&s.status) => apply(&mut m.users[i]),
        _ => {
            m.abandoned += 1;
            m.uncertain.insert(m.users[i].id);
        }
    }
}

async fn patch_profile(
    c: &Client,
    m: &mut Model,
    i: usize,
    title: String,
    dept: String,
    manager: Option<Uuid>,
) {
    let mut ops = vec![
        json!({"op": "replace", "path": "title", "value": title}),
        json!({"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": dept}),
    ];
    if let Some(mgr) = manager {
        ops.push(json!({"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": mgr.to_string()}}));
    }
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let s = c
        .send(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", m.users[i].id),
            Some(&body),
        )
        .await;
    settle(m, i, s, &[StatusCode::OK, StatusCode::NO_CONTENT], |u| {
        u.title = title;
        u.department = dept;
        if manager.is_some() {
            u.manager = manager;
        }
    });
}

async fn patch_active(c: &Client, m: &mut Model, i: usize, active: bool) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": active}}]
    });
    let s = c
        .send(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", m.users[i].id),
            Some(&body),
        )
        .await;
    settle(m, i, s, &[StatusCode::OK, StatusCode::NO_CONTENT], |u| {
        u.active = active
    });
}

async fn put_user(c: &Client, m: &mut Model, i: usize, title: String) {
    let mut next = m.users[i].clone();
    next.title = title;
    let s = c
        .send(
            Method::PUT,
            &format!("/scim/v2/Users/{}", next.id),
            Some(&user_body(&next)),
        )
        .await;
    settle(m, i, s, &[StatusCode::OK], |u| *u = next);
}

async fn delete_user(c: &Client, m: &mut Model, i: usize) {
    let id = m.users[i].id;
    let s = c
        .send(Method::DELETE, &format!("/scim/v2/Users/{id}"), None)
        .await;
    // A 404 after an ambiguous attempt is that attempt's success.
    let s = s.map(|s| match s.status {
        StatusCode::NOT_FOUND if s.ambiguous => Settled {
            status: StatusCode::NO_CONTENT,
            ..s
        },
        _ => s,
    });
    settle(m, i, s, &[StatusCode::NO_CONTENT], |u| u.deleted = true);
    if m.users[i].deleted {
        // Deleting a user takes it out of every group.
        m.members.remove(&id);
    }
}

async fn create_group(c: &Client, m: &mut Model, name: &str) {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": []});
    let Some(s) = c.send(Method::POST, "/scim/v2/Groups", Some(&body)).await else {
        m.abandoned += 1;
        return;
    };
    m.group = match s.status {
        StatusCode::CREATED => id_of(&s.body),
        StatusCode::CONFLICT if s.ambiguous => {
            let q = format!(
                "/scim/v2/Groups?filter={}",
                tests::urlencode(&format!("displayName eq \"{name}\""))
            );
            c.send(Method::GET, &q, None).await.and_then(|f| {
                f.body["Resources"][0]["id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
            })
        }
        _ => None,
    };
    if m.group.is_none() {
        m.abandoned += 1;
        // Without a group this client provisions users only; an impossible id marks that.
        m.group = Some(Uuid::nil());
        return;
    }
    // Nested, as Entra ID sends it: a parent group whose member is this group, so every member
    // change below also moves the product's effective membership above, and the final
    // `scim-worker verify` checks that closure against the directory. Its outcome is not
    // modelled (verify covers it); a lost answer is only counted.
    if let Some(child) = m.group {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": format!("{name}-parent"),
                          "members": [{"value": child.to_string(), "type": "Group"}]});
        match c.send(Method::POST, "/scim/v2/Groups", Some(&body)).await {
            Some(s) if s.status == StatusCode::CREATED || s.status == StatusCode::CONFLICT => {}
            _ => m.abandoned += 1,
        }
    }
}

async fn members(c: &Client, m: &mut Model, user: Uuid, add: bool) {
    let Some(group) = m.group.filter(|g| !g.is_nil()) else {
        return;
    };
    let op = if add { "add" } else { "remove" };
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": "members", "value": [{"value": user.to_string()}]}]
    });
    match c
        .send(Method::PATCH, &format!("/scim/v2/Groups/{group}"), Some(&body))
        .await
    {
        Some(s) if s.status.is_success() => {
            if add {
                m.members.insert(user);
            } else {
                m.members.remove(&user);
            }
        }
        _ => {
            m.abandoned += 1;
            m.uncertain.insert(group);
        }
    }
}
