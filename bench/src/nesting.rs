//! Nested groups at scale: five groups chained over 20,000 users (each level with a fifth of
//! them as direct members), then the cost of changing one edge at depth 5 (the deepest group
//! leaving and rejoining its parent: its 4,000 users leave or join four ancestors, 16,000 closure
//! rows) against one member joining and leaving the deepest group (5 closure rows), each timed
//! from the api's answer until `product.group_effective_members` holds the result.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{Api, TestEnv};
use uuid::Uuid;

use crate::groups::bulk_users;
use crate::stats::Samples;

const LEVELS: usize = 5;
const ROUNDS: usize = 10;

pub struct NestingFigures {
    pub users: usize,
    pub edge_rows: i64,
    pub edge: Samples,
    pub member: Samples,
}

async fn call(env: &TestEnv, api: &Api, token: &str, method: Method, path: &str, body: Value) -> Value {
    let r = env
        .request(api, method, &format!("/scim/v2{path}"), Some(token), Some(body))
        .await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn add(value: Value) -> Value {
    patch(json!([{"op": "add", "path": "members", "value": value}]))
}

fn remove(id: &str) -> Value {
    patch(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]))
}

async fn closure(db: &DatabaseConnection, tenant: Uuid) -> i64 {
    tests::scalar(
        db,
        &format!(
            "select count(*) as n from product.group_effective_members x
             join product.groups g on g.id = x.group_id where g.tenant_id = '{tenant}'"
        ),
        "n",
    )
    .await
}

/// Sends `body` and times until the tenant's closure holds `want` rows.
async fn timed(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    (tenant, token): (Uuid, &str),
    path: &str,
    body: Value,
    want: i64,
) -> Duration {
    let t = Instant::now();
    call(env, api, token, Method::PATCH, path, body).await;
    while closure(db, tenant).await != want {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "closure never reached {want}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    t.elapsed()
}

pub async fn measure(env: &TestEnv, api: &Api, db: &DatabaseConnection, users: usize) -> NestingFigures {
    let (tenant, token) = env.create_tenant("bench-nesting");
    let ids = bulk_users(db, tenant, users + 1, "nest").await;
    // Into the product too: memberships link only users it has.
    let (ok, out) = env.worker_cli(&["reconcile", "--tenant", &tenant.to_string()]);
    assert!(ok, "reconcile: {out:?}");
    let per = users / LEVELS;
    let mut levels = Vec::new();
    for l in 0..LEVELS {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Level {l}"), "members": []});
        let g = call(env, api, &token, Method::POST, "/Groups", body).await;
        let g = g["id"].as_str().expect("id").to_owned();
        for chunk in ids[l * per..(l + 1) * per].chunks(500) {
            let m: Vec<Value> = chunk.iter().map(|u| json!({"value": u.to_string()})).collect();
            call(
                env,
                api,
                &token,
                Method::PATCH,
                &format!("/Groups/{g}"),
                add(json!(m)),
            )
            .await;
        }
        levels.push(g);
    }
    for l in (0..LEVELS - 1).rev() {
        let kid = json!([{"value": levels[l + 1], "type": "Group"}]);
        call(
            env,
            api,
            &token,
            Method::PATCH,
            &format!("/Groups/{}", levels[l]),
            add(kid),
        )
        .await;
    }
    // per × (5 + 4 + 3 + 2 + 1)
    let full = (per * 15) as i64;
    let settle = Instant::now();
    while closure(db, tenant).await != full {
        assert!(
            settle.elapsed() < Duration::from_secs(600),
            "the nested groups never settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let edge_rows = (per * (LEVELS - 1)) as i64;
    let (parent, deepest) = (format!("/Groups/{}", levels[LEVELS - 2]), &levels[LEVELS - 1]);
    let probe = ids[users];
    let deep_path = format!("/Groups/{deepest}");
    let at = (tenant, token.as_str());
    let mut edge = Samples::default();
    let mut member = Samples::default();
    for _ in 0..ROUNDS {
        edge.push(timed(env, api, db, at, &parent, remove(deepest), full - edge_rows).await);
        edge.push(
            timed(
                env,
                api,
                db,
                at,
                &parent,
                add(json!([{"value": deepest, "type": "Group"}])),
                full,
            )
            .await,
        );
        let one = json!([{"value": probe.to_string()}]);
        member.push(timed(env, api, db, at, &deep_path, add(one), full + LEVELS as i64).await);
        member.push(timed(env, api, db, at, &deep_path, remove(&probe.to_string()), full).await);
    }
    let r = env
        .request(
            api,
            Method::DELETE,
            &format!("/scim/v2{deep_path}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    NestingFigures {
        users,
        edge_rows,
        edge,
        member,
    }
}
