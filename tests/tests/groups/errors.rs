//! What a group request is refused for, and that a refused request changes nothing: names are
//! unique per tenant whatever their case, and a group cannot contain itself, however deep. A
//! member that names no user or group of the tenant is not refused: it is kept as a reference
//! (`references` and `tests/tests/tenancy` cover those).

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
async fn a_group_cannot_contain_itself_or_close_a_cycle_and_nothing_changes() {
    let w = World::new().await;
    let user = w.user("cyc@acme.test").await;
    let (top, mid, low) = (w.group("Top").await, w.group("Mid").await, w.group("Low").await);
    let child = |id: Uuid| json!([{"op": "add", "path": "members", "value": [{"value": id.to_string(), "type": "Group"}]}]);
    w.patch_ok(top, child(mid)).await;
    w.patch_ok(mid, child(low)).await;
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;
    // Itself.
    let r = w.patch_group(top, child(top)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("'Top' cannot be a member of itself"),
        "{}",
        r.body
    );
    // A cycle through two levels, named in the detail; the user added alongside is not added.
    let mixed = json!([{"op": "add", "path": "members", "value": [{"value": user.to_string()}, {"value": top.to_string()}]}]);
    let r = w.patch_group(low, mixed).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("'Low' → 'Top' → 'Mid' → 'Low'"), "{detail}");
    // By PUT too.
    let put =
        json!({"schemas": [GROUP_SCHEMA], "displayName": "Mid", "members": [{"value": top.to_string()}]});
    let r = w.call(Method::PUT, &format!("/Groups/{mid}"), Some(put)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(w.members(low).await.is_empty(), "all or nothing");
    assert!(outbox_after(&db, before).await.is_empty());
}

#[tokio::test]
async fn a_deleted_user_added_to_a_group_is_kept_as_a_reference_and_never_linked() {
    let w = World::new().await;
    let gone = w.user("gone@acme.test").await;
    let here = w.user("here@acme.test").await;
    assert_eq!(
        w.call(Method::DELETE, &format!("/Users/{gone}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gid = w.group("Mine").await;
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&[gone, here])}]),
    )
    .await;
    let r = w.get(&format!("/Groups/{gid}")).await;
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{}", r.body);
    assert_eq!(members[0]["value"], here.to_string());
    assert_eq!(members[0]["type"], "User");
    assert_eq!(
        members[1],
        json!({"value": gone.to_string()}),
        "as sent, and no $ref"
    );
    // Only the live user travels to the product.
    let sent: Vec<String> = outbox_after(&db, before)
        .await
        .iter()
        .map(|o| o.payload.to_string())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains(&here.to_string()) && !sent[0].contains(&gone.to_string()));
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
