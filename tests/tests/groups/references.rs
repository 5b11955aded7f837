//! Members the directory does not know never fail a request. An independent RFC 7644 test
//! client creates groups whose members it never provisioned; Entra ID deletes users while its
//! group pushes are still in flight. The request is applied, such a member is kept and returned
//! exactly as sent, `scim-worker verify` lists it, and the product links only the tenant's users.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{eventually, scalar};
use uuid::Uuid;

use crate::{GROUP_SCHEMA, Steps, World, refs};

async fn product_members(w: &World, group: Uuid) -> i64 {
    scalar(
        &w.db,
        &format!("select count(*) as n from product.group_members where group_id = '{group}'"),
        "n",
    )
    .await
}

/// `scim-worker verify`'s lines once the worker has applied everything.
async fn verified(w: &World) -> Vec<serde_json::Value> {
    let tenant = w.tenant.to_string();
    eventually("verify finds no difference", || async {
        w.env.worker_cli(&["verify", "--tenant", &tenant]).0
    })
    .await;
    w.env.worker_cli(&["verify", "--tenant", &tenant]).1
}

#[tokio::test]
async fn a_group_of_members_never_provisioned_is_created_and_returned_as_sent() {
    let w = World::new().await;
    let invented = [Uuid::new_v4().to_string(), Uuid::new_v4().to_string()];
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Compliance test group", "members": [
        {"value": invented[0], "display": "Invented One", "type": "User"},
        {"value": invented[1]},
        {"value": "external-42", "display": "Not a UUID"}
    ]});
    let r = w.call(Method::POST, "/Groups", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.id();
    let mut want = vec![
        json!({"value": invented[0], "display": "Invented One", "type": "User"}),
        json!({"value": invented[1]}),
        json!({"value": "external-42", "display": "Not a UUID"}),
    ];
    want.sort_by_key(|m| m["value"].as_str().unwrap().to_owned());
    assert_eq!(r.body["members"], json!(want), "{}", r.body);
    let read = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read.body["members"], json!(want));
    // Found by a members filter, as the test client then checks.
    let found = w
        .get(&format!(
            "/Groups?filter={}",
            tests::urlencode(&format!("members.value eq \"{}\"", invented[1]))
        ))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let by_display = w
        .get(&format!(
            "/Groups?filter={}",
            tests::urlencode("members[display eq \"invented one\" and type eq \"user\"]")
        ))
        .await;
    assert_eq!(by_display.body["totalResults"], 1, "{}", by_display.body);
    // Removed by value like any member.
    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": "members[value eq \"external-42\"]"}]),
    )
    .await;
    assert_eq!(w.members_raw(gid).await.len(), 2);
    let out = verified(&w).await;
    let listed: Vec<&serde_json::Value> = out.iter().filter(|l| l.get("reference").is_some()).collect();
    assert_eq!(listed.len(), 2, "{out:?}");
    assert_eq!(out.last().unwrap()["member_references"], 2);
}

/// One stale id among 100 used to fail all 100.
#[tokio::test]
async fn a_patch_mixing_live_deleted_and_unknown_ids_applies_and_links_only_the_live_users() {
    let w = World::new().await;
    let live = w.users("mix", 98).await;
    let deleted = w.user("deleted@acme.test").await;
    let r = w.call(Method::DELETE, &format!("/Users/{deleted}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let unknown = Uuid::now_v7();
    let gid = w.group("Mixed").await;
    let mut all = live.clone();
    all.extend([deleted, unknown]);
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&all)}]),
    )
    .await;
    let members = w.members_raw(gid).await;
    assert_eq!(members.len(), 100);
    let users = members.iter().filter(|m| m["type"] == "User").count();
    assert_eq!(users, 98, "live users are users");
    for id in [deleted, unknown] {
        let m = members
            .iter()
            .find(|m| m["value"] == id.to_string())
            .expect("kept");
        assert_eq!(*m, json!({"value": id.to_string()}), "as sent");
    }
    eventually("the product links the 98 live users", || async {
        product_members(&w, gid).await == 98
    })
    .await;
    // A replace drops the references it does not name, and keeps the one it does.
    w.patch_ok(
        gid,
        json!([{"op": "replace", "path": "members", "value": refs(&[live[0], unknown])}]),
    )
    .await;
    let members = w.members_raw(gid).await;
    assert_eq!(members.len(), 2, "{members:?}");
    eventually("the product keeps one", || async {
        product_members(&w, gid).await == 1
    })
    .await;
    // Removing everything removes the references too.
    w.patch_ok(gid, json!([{"op": "remove", "path": "members"}]))
        .await;
    assert!(w.members_raw(gid).await.is_empty());
    let out = verified(&w).await;
    assert_eq!(out.last().unwrap()["member_references"], 0);
}
