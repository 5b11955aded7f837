//! Tenant-defined attributes: POST alone with ten values of a tenant's own extension against the
//! same without (part 2), and a mapping change over a large tenant: the dry run, and the
//! backfill until every product row has its mapped values.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tests::{Api, TestEnv};
use uuid::Uuid;

use crate::events::ADMIN_KEY;
use crate::workload;

pub const URN: &str = "urn:ietf:params:scim:schemas:extension:bench:2.0:User";

/// Ten attributes, strings and integers.
fn definition() -> Value {
    let attributes: Vec<Value> = (0..10)
        .map(|i| {
            let ty = if i % 2 == 0 { "string" } else { "integer" };
            json!({"name": format!("a{i}"), "type": ty})
        })
        .collect();
    json!({"name": "Bench", "attributes": attributes})
}

/// Ten values for user `n`.
fn values(n: usize) -> Value {
    let mut m = serde_json::Map::new();
    for i in 0..10 {
        let v = if i % 2 == 0 {
            json!(format!("value-{i}-{n}"))
        } else {
            json!(n as i64 * 10 + i)
        };
        m.insert(format!("a{i}"), v);
    }
    Value::Object(m)
}

async fn admin_put(env: &TestEnv, api: &Api, path: &str, body: Value) -> anyhow::Result<Value> {
    let r = env
        .http
        .put(format!("{}{path}", api.base))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "PUT {path}: {status} {v}");
    Ok(v)
}

async fn tenant_with_extension(env: &TestEnv, api: &Api, name: &str) -> anyhow::Result<(Uuid, String)> {
    let (tenant, token) = env.create_tenant(name);
    admin_put(
        env,
        api,
        &format!("/admin/api/tenants/{tenant}/schemas/{URN}"),
        definition(),
    )
    .await?;
    Ok((tenant, token))
}

/// POST alone, as part 2, with ten extension values per user; requests per second.
pub async fn creates_with_extension(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let (tenant, token) = tenant_with_extension(env, api, "bench-attributes-creates").await?;
    let decorate = |i: usize, body: &mut Value| {
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", URN]);
        body[URN] = values(i);
    };
    let run = workload::import_with(env, api, &[token], n, concurrency, false, &decorate).await;
    workload::discard_tenant(env, db, tenant).await;
    Ok(crate::stats::rate(n, run.elapsed))
}

pub struct Backfill {
    pub users: usize,
    pub dry_run: Duration,
    /// Until the api had sent every user again.
    pub sent: Duration,
    /// Until every product row had its mapped values (the workers running).
    pub applied: Duration,
}

/// A tenant of `users` users (written by SQL, each with ten extension values), a mapping of two
/// of them into `attributes`: its dry run, then the real change timed until the product has it.
pub async fn backfill(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    users: usize,
) -> anyhow::Result<Backfill> {
    let (tenant, _) = tenant_with_extension(env, api, "bench-attributes-backfill").await?;
    db.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "insert into scim.users (id, tenant_id, user_name, user_name_key, active, resource, version, created_at, updated_at)
         select gen_random_uuid(), $1, u, u, true,
                jsonb_build_object('userName', u, 'active', true, $3::text,
                    jsonb_build_object('a0', 'loc-' || (i % 50), 'a1', i, 'a2', 'x', 'a3', i * 2)),
                1, now(), now()
         from generate_series(1, $2) as i, lateral (select 'mapped-' || i || '@acme.test' as u) n",
        [tenant.into(), (users as i32).into(), URN.into()],
    ))
    .await?;
    db.execute_unprepared("vacuum analyze scim.users").await?;
    let path = format!("/admin/api/tenants/{tenant}/mapping");
    let rules = json!([
        {"from": format!("{URN}:a0"), "to": "attributes.location"},
        {"from": format!("{URN}:a1"), "to": "attributes.badge"},
    ]);
    let t0 = Instant::now();
    let dry = admin_put(env, api, &path, json!({"mappings": rules, "dry_run": true})).await?;
    let dry_run = t0.elapsed();
    anyhow::ensure!(dry["changed"] == users, "the dry run counted {}", dry["changed"]);
    let t1 = Instant::now();
    admin_put(env, api, &path, json!({"mappings": rules})).await?;
    let mut sent = None;
    let count = format!(
        "select count(*) as n from product.users where tenant_id = '{tenant}' and attributes ? 'location'"
    );
    loop {
        if sent.is_none() {
            let r = env
                .http
                .get(format!("{}{path}", api.base))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await?;
            anyhow::ensure!(r.status() == StatusCode::OK, "GET {path}: {}", r.status());
            let v: Value = r.json().await?;
            if v["backfill"]["running"] == false {
                sent = Some(t1.elapsed());
            }
        }
        let n: i64 = tests::scalar(db, &count, "n").await;
        if n as usize >= users && sent.is_some() {
            break;
        }
        anyhow::ensure!(
            t1.elapsed() < Duration::from_secs(900),
            "the backfill did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = t1.elapsed();
    workload::discard_tenant(env, db, tenant).await;
    Ok(Backfill {
        users,
        dry_run,
        sent: sent.unwrap_or(applied),
        applied,
    })
}
