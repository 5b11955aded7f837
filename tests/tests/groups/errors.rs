//! What a group request is refused for, and that a refused request changes nothing: names are
//! unique per tenant whatever their case, and members must be live users of the same tenant
//! (`tests/tests/tenancy` covers the other tenants' users).

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::{GROUP_SCHEMA, Steps, World, last_outbox_id, outbox_after, refs};

#[tokio::test]
async fn a_duplicate_display_name_is_409_uniqueness_whatever_its_case() {
    let w = World::new().await;
    w.group("Finance").await;
    let r = w.post_group("FINANCE", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert!(
        r.body["detail"].as_str().unwrap().contains("FINANCE"),
        "{}",
        r.body
    );
    // A rename onto a taken name too.
    let other = w.group("Legal").await;
    let r = w
        .patch_group(
            other,
            json!([{"op": "replace", "path": "displayName", "value": "finance"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");
    // Another tenant may use the name.
    let (_, token) = w.env.create_tenant("Other");
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Finance"});
    let r = w.call_as(&token, Method::POST, "/Groups", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn an_unknown_member_id_is_400_invalid_value_naming_it_and_nothing_changes() {
    let w = World::new().await;
    let known = w.user("known@acme.test").await;
    let gid = w.group("Strict").await;
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;
    let unknown = Uuid::now_v7();
    let r = w
        .patch_group(
            gid,
            json!([{"op": "add", "path": "members", "value": [{"value": known.to_string()}, {"value": unknown.to_string()}, {"value": "not-a-user"}]}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains(&unknown.to_string()), "{detail}");
    assert!(detail.contains("not-a-user"), "{detail}");
    assert!(!detail.contains(&known.to_string()), "{detail}");
    assert!(w.members(gid).await.is_empty(), "all or nothing");
    assert!(outbox_after(&db, before).await.is_empty());

    // At creation too: the group is not created.
    let r = w.post_group("Strict 2", &[known, unknown]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let found = w.get("/Groups?filter=displayName%20eq%20%22Strict%202%22").await;
    assert_eq!(found.body["totalResults"], 0);
}

#[tokio::test]
async fn a_deleted_user_cannot_be_a_member() {
    let w = World::new().await;
    let gone = w.user("gone@acme.test").await;
    assert_eq!(
        w.call(Method::DELETE, &format!("/Users/{gone}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gid = w.group("Mine").await;
    let r = w
        .patch_group(
            gid,
            json!([{"op": "add", "path": "members", "value": refs(&[gone])}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(r.body["detail"].as_str().unwrap().contains(&gone.to_string()));
}

#[tokio::test]
async fn malformed_group_requests_are_400s_that_say_what_to_fix() {
    let w = World::new().await;
    let gid = w.group("Shapes").await;
    let r = w
        .call(Method::POST, "/Groups", Some(json!({"schemas": [GROUP_SCHEMA]})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("displayName"));
    let r = w
        .patch_group(
            gid,
            json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = w
        .patch_group(gid, json!([{"op": "remove", "path": "displayName"}]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "displayName is required");
    let r = w.get("/Groups/not-a-uuid").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = w.get("/Groups?filter=userName%20eq%20%22x%22").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidFilter");
}
