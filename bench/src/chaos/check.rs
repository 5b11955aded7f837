//! After the load: every write the server accepted is in the directory, the product matches the
//! directory (`scim-worker verify`, retried until the workers have drained), nothing was
//! dead-lettered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::TestEnv;
use uuid::Uuid;

use crate::load::Model;

pub struct DirectoryCheck {
    pub checked: usize,
    pub differences: usize,
    pub abandoned: usize,
    pub details: Vec<String>,
}

pub async fn directory(base: &str, token: &str, models: &[Model]) -> anyhow::Result<DirectoryCheck> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let get = |path: String| {
        let req = http.get(format!("{base}/scim/v2{path}")).bearer_auth(token);
        async move {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, body))
        }
    };
    let mut check = DirectoryCheck {
        checked: 0,
        differences: 0,
        abandoned: models.iter().map(|m| m.abandoned).sum(),
        details: Vec::new(),
    };
    let mut differ = |what: String| {
        check.differences += 1;
        if check.details.len() < 50 {
            check.details.push(what);
        }
    };
    for m in models {
        for u in m.users.iter().filter(|u| !m.uncertain.contains(&u.id)) {
            let (status, body) = get(format!("/Users/{}", u.id)).await?;
            match (u.deleted, status) {
                (true, 404) => {}
                (true, s) => differ(format!("user {} was deleted but reads {s}", u.id)),
                (false, 200) => {
                    let ent = &body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
                    let seen = (
                        body["active"].as_bool(),
                        body["title"].as_str(),
                        ent["department"].as_str(),
                        ent["manager"]["value"]
                            .as_str()
                            .and_then(|s| Uuid::parse_str(s).ok()),
                    );
                    let want = (
                        Some(u.active),
                        Some(u.title.as_str()),
                        Some(u.department.as_str()),
                        u.manager,
                    );
                    if seen != want {
                        differ(format!(
                            "user {}: accepted {want:?}, directory has {seen:?}",
                            u.id
                        ));
                    }
                }
                (false, s) => differ(format!("user {} was accepted but reads {s}", u.id)),
            }
        }
        check.checked += m.users.len();
        if let Some(g) = m.group.filter(|g| !g.is_nil() && !m.uncertain.contains(g)) {
            let (status, body) = get(format!("/Groups/{g}")).await?;
            let seen: BTreeSet<Uuid> = body["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["value"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect();
            // Users whose last change is unknown may or may not still be members.
            let strip =
                |s: &BTreeSet<Uuid>| -> BTreeSet<Uuid> { s.difference(&m.uncertain).copied().collect() };
            if status != 200 || strip(&seen) != strip(&m.members) {
                differ(format!(
                    "group {g}: accepted {} members, directory answers {status} with {}",
                    m.members.len(),
                    seen.len()
                ));
            }
            check.checked += 1;
        }
    }
    Ok(check)
}

pub struct ProductCheck {
    pub differences: usize,
    /// verify's last summary line.
    pub summary: Value,
}

/// Runs `scim-worker verify` until it finds no difference or `limit` passes: the workers may
/// still be draining what the outages held back.
pub async fn product(env: &TestEnv, limit: Duration) -> ProductCheck {
    let deadline = Instant::now() + limit;
    loop {
        let (ok, lines) = env.worker_cli(&["verify"]);
        let summary = lines.last().cloned().unwrap_or(Value::Null);
        if ok || Instant::now() > deadline {
            let differences = if ok {
                0
            } else {
                summary["differences"].as_u64().map_or(usize::MAX, |n| n as usize)
            };
            if !ok {
                for l in lines.iter().take(20) {
                    eprintln!("chaos: verify: {l}");
                }
            }
            return ProductCheck { differences, summary };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Messages in the dead-letter queue (none is allowed: outages are not poison).
pub fn dead_letters(env: &TestEnv) -> usize {
    let (ok, lines) = env.worker_cli(&["dlq", "list"]);
    let count = lines.last().and_then(|l| l["dead_letters"].as_u64());
    match (ok, count) {
        (true, Some(n)) => n as usize,
        _ => usize::MAX,
    }
}
