//! Roles from groups at scale: a group of 20,000 users mapped to a role, then the mapping
//! changed to another role. Each change is one message through the queue; the worker re-derives
//! the tenant's users in pages. Timed from the admin API's answer until `product.user_roles`
//! holds the new role for every member.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{Api, TestEnv};
use uuid::Uuid;

use crate::events::ADMIN_KEY;
use crate::groups::bulk_users;

pub struct RoleFigures {
    pub members: usize,
    /// The first mapping (every member gains a role), then a change of its role.
    pub first: Duration,
    pub change: Duration,
}

async fn with_role(db: &DatabaseConnection, tenant: Uuid, role: &str) -> i64 {
    tests::scalar(
        db,
        &format!(
            "select count(*) as n from product.user_roles r join product.users u on u.id = r.user_id
             where u.tenant_id = '{tenant}' and r.role = '{role}'"
        ),
        "n",
    )
    .await
}

async fn map(env: &TestEnv, api: &Api, tenant: Uuid, role: &str) -> anyhow::Result<Instant> {
    let t = Instant::now();
    let r = env
        .http
        .put(format!("{}/admin/api/tenants/{tenant}/role-mapping", api.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"rules": [{"group": "Everyone", "role": role, "priority": 10}]}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "role mapping: {}", r.status());
    Ok(t)
}

async fn until_all(db: &DatabaseConnection, tenant: Uuid, role: &str, n: i64, since: Instant) -> Duration {
    while with_role(db, tenant, role).await < n {
        assert!(
            since.elapsed() < Duration::from_secs(600),
            "{role} never reached {n} users"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    since.elapsed()
}

pub async fn measure(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    members: usize,
) -> anyhow::Result<RoleFigures> {
    let (tenant, token) = env.create_tenant("bench-roles");
    let ids = bulk_users(db, tenant, members, "role").await;
    let (ok, out) = env.worker_cli(&["reconcile", "--tenant", &tenant.to_string()]);
    anyhow::ensure!(ok, "reconcile: {out:?}");
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone", "members": []});
    let r = env
        .request(api, Method::POST, "/scim/v2/Groups", Some(&token), Some(body))
        .await;
    anyhow::ensure!(r.status == StatusCode::CREATED, "group: {}", r.body);
    let group = r.body["id"].as_str().unwrap_or_default().to_owned();
    for chunk in ids.chunks(1_000) {
        let m: Vec<Value> = chunk.iter().map(|u| json!({"value": u.to_string()})).collect();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": "add", "path": "members", "value": m}]});
        let r = env
            .request(
                api,
                Method::PATCH,
                &format!("/scim/v2/Groups/{group}"),
                Some(&token),
                Some(patch),
            )
            .await;
        anyhow::ensure!(r.status.is_success(), "members: {}", r.body);
    }
    let n = members as i64;
    crate::workload::wait_for(
        db,
        "the group applied",
        &format!("select count(*) as n from product.group_effective_members where group_id = '{group}'"),
        n,
        Duration::from_secs(600),
    )
    .await;
    let t = map(env, api, tenant, "learner").await?;
    let first = until_all(db, tenant, "learner", n, t).await;
    let t = map(env, api, tenant, "trainee").await?;
    let change = until_all(db, tenant, "trainee", n, t).await;
    Ok(RoleFigures {
        members,
        first,
        change,
    })
}
