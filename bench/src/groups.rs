//! Group push at scale: building a large group the way Okta does (PATCH batches of 100), then a
//! one-member add+remove on it compared with the same on a 10-member group.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tests::{Api, TestEnv};
use uuid::Uuid;

use crate::stats::Samples;

pub struct GroupFigures {
    pub members: usize,
    pub build_s: f64,
    pub one_member_big: Samples,
    pub one_member_small: Samples,
    /// `GET /Groups/{id}?excludedAttributes=members` on the large group.
    pub read_without_members: Samples,
}

/// Directory users written with SQL: the cost under test is the group PATCH, not user creation.
pub(crate) async fn bulk_users(db: &DatabaseConnection, tenant: Uuid, n: usize, tag: &str) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "insert into scim.users (id, tenant_id, user_name, user_name_key, active, resource, version, created_at, updated_at)
             select gen_random_uuid(), $1, $3 || i || '@bench.test', $3 || i || '@bench.test', true,
                    jsonb_build_object('userName', $3 || i || '@bench.test', 'active', true), 1, now(), now()
             from generate_series(1, $2) as i returning id",
            [tenant.into(), (n as i32).into(), tag.to_owned().into()],
        ))
        .await
        .expect("bulk users");
    rows.iter().map(|r| r.try_get("", "id").expect("id")).collect()
}

pub(crate) fn members(ids: &[Uuid]) -> Value {
    Value::Array(ids.iter().map(|id| json!({"value": id.to_string()})).collect())
}

pub(crate) async fn patch(env: &TestEnv, api: &Api, token: &str, group: &str, ops: Value) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = env
        .request(
            api,
            Method::PATCH,
            &format!("/scim/v2/Groups/{group}"),
            Some(token),
            Some(body),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
}

pub(crate) async fn create(env: &TestEnv, api: &Api, token: &str, name: &str) -> String {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": []});
    let r = env
        .request(api, Method::POST, "/scim/v2/Groups", Some(token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

/// One add and one remove (Okta's forms), `rounds` times, on `group`; latency per PATCH.
async fn churn(env: &TestEnv, api: &Api, token: &str, group: &str, user: Uuid, rounds: usize) -> Samples {
    let mut s = Samples::default();
    for _ in 0..rounds {
        let t = Instant::now();
        patch(
            env,
            api,
            token,
            group,
            json!([{"op": "add", "path": "members", "value": members(&[user])}]),
        )
        .await;
        s.push(t.elapsed());
        let t = Instant::now();
        patch(
            env,
            api,
            token,
            group,
            json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]),
        )
        .await;
        s.push(t.elapsed());
    }
    s
}

pub async fn measure(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    tenant: Uuid,
    token: &str,
    n: usize,
) -> GroupFigures {
    let users = bulk_users(db, tenant, n + 11, "member").await;
    let big = create(env, api, token, "Everyone").await;
    let started = Instant::now();
    for batch in users[..n].chunks(100) {
        patch(
            env,
            api,
            token,
            &big,
            json!([{"op": "add", "path": "members", "value": members(batch)}]),
        )
        .await;
    }
    let build_s = started.elapsed().as_secs_f64();
    let small = create(env, api, token, "Ten").await;
    patch(
        env,
        api,
        token,
        &small,
        json!([{"op": "add", "path": "members", "value": members(&users[n..n + 10])}]),
    )
    .await;
    let probe = users[n + 10];
    // Measured once the workers have applied the build, so that neither group is timed while
    // they compete for the machine; then the two groups alternate, round by round, so that
    // whatever else the machine does weighs on both alike.
    crate::workload::wait_for(
        db,
        "the large group applied",
        &format!("select count(*) as n from product.membership_versions where group_id = '{big}'"),
        n as i64,
        std::time::Duration::from_secs(900),
    )
    .await;
    churn(env, api, token, &big, probe, 2).await;
    churn(env, api, token, &small, probe, 2).await;
    let (mut one_member_big, mut one_member_small) = (Samples::default(), Samples::default());
    for _ in 0..50 {
        one_member_big.extend(churn(env, api, token, &big, probe, 1).await);
        one_member_small.extend(churn(env, api, token, &small, probe, 1).await);
    }
    let mut read_without_members = Samples::default();
    let path = format!("/scim/v2/Groups/{big}?excludedAttributes=members");
    for i in 0..220 {
        let t = Instant::now();
        let r = env.request(api, Method::GET, &path, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The first twenty warm the path.
        if i >= 20 {
            read_without_members.push(t.elapsed());
        }
    }
    GroupFigures {
        members: n,
        build_s,
        one_member_big,
        one_member_small,
        read_without_members,
    }
}
