//! What the worker makes of group changes: `product.groups(id, tenant_id, name, version)` and
//! `product.group_members(group_id, user_id)` follow the directory, and `scim-worker verify`
//! finds no difference once the changes are applied.

use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use tests::{eventually, product_members};
use uuid::Uuid;

use crate::{Steps, World, refs, sorted};

fn sql(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}

/// The product row of a group: (tenant, name, version); `None` while absent (or before the
/// worker created the product schema).
async fn product_group(db: &DatabaseConnection, id: Uuid) -> Option<(Uuid, String, i64)> {
    match db
        .query_one_raw(sql(
            "select tenant_id, name, version from product.groups where id = $1",
            [id.into()],
        ))
        .await
    {
        Ok(row) => row.map(|r| {
            (
                r.try_get("", "tenant_id").expect("tenant_id"),
                r.try_get("", "name").expect("name"),
                r.try_get("", "version").expect("version"),
            )
        }),
        Err(e) if e.to_string().contains("does not exist") => None,
        Err(e) => panic!("query product.groups: {e}"),
    }
}

async fn members_become(db: &DatabaseConnection, group: Uuid, want: &[Uuid]) {
    let want = sorted(want);
    eventually(&format!("product members of {group} become {want:?}"), || {
        let want = want.clone();
        async move { product_members(db, group).await == want }
    })
    .await;
}

/// Waits until the users are in the product, so membership rows can be materialised.
async fn users_applied(w: &World, db: &DatabaseConnection, users: &[Uuid]) {
    for id in users {
        w.env.product_user_where(db, *id, |_| true).await;
    }
}

#[tokio::test]
async fn a_pushed_group_and_its_members_reach_the_product() {
    let w = World::new().await;
    let db = w.env.db().await;
    let users = w.users("pg", 3).await;
    users_applied(&w, &db, &users).await;
    let gid = w.post_group("Product Team", &users[..1]).await.id();
    eventually("the group reaches the product", || async {
        product_group(&db, gid).await == Some((w.tenant, "Product Team".into(), 1))
    })
    .await;
    members_become(&db, gid, &users[..1]).await;

    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users[1..])}]),
    )
    .await;
    members_become(&db, gid, &users).await;
    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
    )
    .await;
    members_become(&db, gid, &users[1..]).await;

    w.patch_ok(
        gid,
        json!([{"op": "replace", "value": {"id": gid.to_string(), "displayName": "Product Guild"}}]),
    )
    .await;
    eventually("the rename reaches the product", || async {
        product_group(&db, gid).await == Some((w.tenant, "Product Guild".into(), 2))
    })
    .await;

    w.call(Method::DELETE, &format!("/Groups/{gid}"), None).await;
    eventually("the deleted group leaves the product", || async {
        product_group(&db, gid).await.is_none()
    })
    .await;
    members_become(&db, gid, &[]).await;
}

#[tokio::test]
async fn a_deleted_user_leaves_its_product_groups() {
    let w = World::new().await;
    let db = w.env.db().await;
    let users = w.users("pl", 2).await;
    users_applied(&w, &db, &users).await;
    let gid = w.post_group("Leavers", &users).await.id();
    members_become(&db, gid, &users).await;
    w.call(Method::DELETE, &format!("/Users/{}", users[0]), None)
        .await;
    members_become(&db, gid, &users[1..]).await;
    assert!(product_group(&db, gid).await.is_some(), "the group stays");
}

#[tokio::test]
async fn verify_finds_no_difference_after_a_group_workload() {
    let w = World::new().await;
    let db = w.env.db().await;
    let users = w.users("pv", 4).await;
    let a = w.post_group("Verify A", &users[..2]).await.id();
    let b = w.post_group("Verify B", &users[2..]).await.id();
    w.patch_ok(
        a,
        json!([{"op": "Add", "path": "members", "value": refs(&users[2..3])}]),
    )
    .await;
    w.patch_ok(
        b,
        json!([{"op": "Remove", "path": "members", "value": refs(&users[3..])}]),
    )
    .await;
    w.call(Method::DELETE, &format!("/Users/{}", users[0]), None)
        .await;
    let c = w.post_group("Verify C", &users[1..2]).await.id();
    w.call(Method::DELETE, &format!("/Groups/{c}"), None).await;
    members_become(&db, a, &users[1..3]).await;
    members_become(&db, b, &users[2..3]).await;
    let tenant = w.tenant.to_string();
    eventually("scim-worker verify reports no difference", || {
        let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
        async move {
            if !ok {
                eprintln!("verify: {lines:?}");
            }
            ok
        }
    })
    .await;
}

#[tokio::test]
async fn verify_finds_group_drift_and_reconcile_repairs_it() {
    let w = World::new().await;
    let db = w.env.db().await;
    let users = w.users("drift", 3).await;
    let gid = w.group("Drifters").await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users)}]),
    )
    .await;
    let gone = w.group("Gone").await;
    assert!(
        w.call(Method::DELETE, &format!("/Groups/{gone}"), None)
            .await
            .status
            .is_success()
    );
    members_become(&db, gid, &users).await;
    eventually("the deleted group is gone", || async {
        product_group(&db, gone).await.is_none()
    })
    .await;
    let tenant = w.tenant.to_string();
    let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    assert!(ok, "{lines:?}");

    // Drift: a lost membership, a wrong name, a resurrected group, a stray membership.
    db.execute_unprepared(&format!(
        "delete from product.group_members where group_id = '{gid}' and user_id = '{}';
         update product.groups set name = 'Wrong' where id = '{gid}';
         insert into product.groups (id, tenant_id, name, version) values ('{gone}', '{tenant}', 'Gone', 1);
         insert into product.group_members (group_id, user_id) values ('{gone}', '{}');",
        users[0], users[1]
    ))
    .await
    .unwrap();
    let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    assert!(!ok);
    let fields: Vec<&str> = lines.iter().filter_map(|l| l["field"].as_str()).collect();
    for f in ["membership", "group_name", "group"] {
        assert!(fields.contains(&f), "{f} in {lines:?}");
    }
    let (ok, lines) = w.env.worker_cli(&["reconcile", "--tenant", &tenant]);
    assert!(ok, "{lines:?}");
    let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    assert!(ok, "{lines:?}");
    let (ok, lines) = w.env.worker_cli(&["reconcile", "--tenant", &tenant]);
    assert!(
        ok && lines[0]["rows_written"] == 0,
        "a second reconcile changes nothing: {lines:?}"
    );
    assert_eq!(product_members(&db, gid).await, sorted(&users));
    assert!(product_group(&db, gone).await.is_none());
}
