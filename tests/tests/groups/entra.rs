//! Entra ID's group provisioning: POST without members, `Add`/`Remove` with value arrays
//! (capitalised ops), `Replace` renames by path and without one, and lookups by externalId.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{GROUP_SCHEMA, Steps, World, message_version, refs, sorted};

#[tokio::test]
async fn entra_adds_and_removes_members_with_value_arrays_and_renames() {
    let w = World::new().await;
    let users = w.users("entra", 4).await;
    let body = json!({
        "schemas": [GROUP_SCHEMA],
        "externalId": "8f3a2c1e-entra-object-id",
        "displayName": "Sales"
    });
    let created = w.call(Method::POST, "/Groups", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let gid = created.id();
    assert_eq!(created.body["members"], json!([]));

    let found = w
        .get("/Groups?filter=externalId%20eq%20%228f3a2c1e-entra-object-id%22&excludedAttributes=members")
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], gid.to_string());

    w.patch_ok(
        gid,
        json!([{"op": "Add", "path": "members", "value": refs(&users[..3])}]),
    )
    .await;
    assert_eq!(w.members(gid).await, sorted(&users[..3]));
    w.patch_ok(
        gid,
        json!([
            {"op": "Remove", "path": "members", "value": refs(&users[..2])},
            {"op": "Add", "path": "members", "value": refs(&users[3..])}
        ]),
    )
    .await;
    assert_eq!(w.members(gid).await, sorted(&[users[2], users[3]]));

    w.patch_ok(
        gid,
        json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]),
    )
    .await;
    w.patch_ok(
        gid,
        json!([{"op": "Replace", "value": {"displayName": "Sales Europe", "externalId": "8f3a2c1e-entra-object-id"}}]),
    )
    .await;
    let read = w.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(read.body["displayName"], "Sales Europe");
    // The ETag counts every change a GET shows: the creation, two membership PATCHes and two
    // renames. The group's message version counts its own document only (the creation and the
    // renames): members travel in messages of their own.
    assert_eq!(read.body["meta"]["version"], "W/\"5\"");
    assert_eq!(message_version(&w, gid).await, 3);
    assert!(read.body.get("members").is_none());
}

#[tokio::test]
async fn removing_every_member_by_path_without_a_value_empties_the_group() {
    let w = World::new().await;
    let users = w.users("all", 3).await;
    let created = w.post_group("Everyone", &users).await;
    let gid = created.id();
    w.patch_ok(gid, json!([{"op": "Remove", "path": "members"}]))
        .await;
    assert!(w.members(gid).await.is_empty());
}

#[tokio::test]
async fn a_failing_operation_leaves_the_group_and_its_members_untouched() {
    let w = World::new().await;
    let users = w.users("atomic", 2).await;
    let gid = w.group("Atomic").await;
    let r = w
        .patch_group(
            gid,
            json!([
                {"op": "Add", "path": "members", "value": refs(&users)},
                {"op": "Replace", "path": "displayName", "value": "Renamed"},
                {"op": "Replace", "path": "id", "value": "x"}
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "mutability");
    assert!(
        r.body["detail"].as_str().unwrap().starts_with("Operations[2]:"),
        "the detail names the operation by its place in the request: {}",
        r.body["detail"]
    );
    let read = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read.body["displayName"], "Atomic");
    assert_eq!(read.body["members"], json!([]));
}
