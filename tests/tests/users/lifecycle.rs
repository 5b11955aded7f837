use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::okta_user;

use crate::World;
use tests::urlencode;

use tests::urn::ENTERPRISE;
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: serde_json::Value) -> serde_json::Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

#[tokio::test]
async fn okta_assigns_a_user_and_it_reaches_the_product() {
    let w = World::new().await;
    let filter = urlencode("userName eq \"ada@acme.test\"");
    let pre = w
        .get(&format!("/Users?filter={filter}&startIndex=1&count=100"))
        .await;
    assert_eq!(pre.body["totalResults"], 0);
    let mut body = okta_user("ada@acme.test", "Ada", "Lovelace");
    body["title"] = json!("Analyst");
    body[ENTERPRISE] = json!({"department": "Engines"});
    body["emails"] =
        json!([{"value": "home@ada.test", "type": "home"}, {"value": "ada@acme.test", "type": "work"}]);
    let r = w.post_user(body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(r.body["meta"]["created"].is_string() && r.body["meta"]["lastModified"].is_string());
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(
        r.body["meta"]["location"],
        format!("{}/scim/v2/Users/{id}", w.api.base)
    );
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/scim/v2/Users/{id}", w.api.base)
    );
    assert_eq!(r.body["name"]["givenName"], "Ada");
    assert_eq!(r.body[ENTERPRISE]["department"], "Engines");

    let db = w.env.db().await;
    let p = w.env.product_user_where(&db, id, |_| true).await;
    assert_eq!(p.tenant_id, w.tenant);
    assert_eq!(p.user_name, "ada@acme.test");
    assert_eq!(p.first_name.as_deref(), Some("Ada"));
    assert_eq!(p.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(
        p.email.as_deref(),
        Some("ada@acme.test"),
        "no primary: the first work email"
    );
    assert_eq!(p.department.as_deref(), Some("Engines"));
    assert_eq!(p.job_title.as_deref(), Some("Analyst"));
    assert!(p.active);
    assert_eq!(p.version, 1);
}

#[tokio::test]
async fn a_duplicate_user_name_is_409_uniqueness_whatever_its_case() {
    let w = World::new().await;
    assert_eq!(
        w.post_user(okta_user("dup@acme.test", "D", "U")).await.status,
        StatusCode::CREATED
    );
    let r = w.post_user(okta_user("DUP@Acme.Test", "D", "U")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert_eq!(r.body["status"], "409");
}

#[tokio::test]
async fn okta_put_updates_the_profile_in_the_product() {
    let w = World::new().await;
    let id = w.post_user(okta_user("put@acme.test", "Old", "Name")).await.id();
    let current = w.get(&format!("/Users/{id}")).await.body;
    let mut body = current.clone();
    body["name"] = json!({"givenName": "New", "familyName": "Surname"});
    body["title"] = json!("Director");
    body[ENTERPRISE] = json!({"department": "Sales"});
    body["emails"] = json!([{"value": "new@acme.test", "primary": true, "type": "work"}]);
    let r = w.call(Method::PUT, &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["meta"]["version"], "W/\"2\"");
    let db = w.env.db().await;
    let p = w.env.product_user_where(&db, id, |p| p.version == 2).await;
    assert_eq!(p.first_name.as_deref(), Some("New"));
    assert_eq!(p.last_name.as_deref(), Some("Surname"));
    assert_eq!(p.job_title.as_deref(), Some("Director"));
    assert_eq!(p.department.as_deref(), Some("Sales"));
    assert_eq!(p.email.as_deref(), Some("new@acme.test"));
    // The same PUT again changes nothing: no new version.
    let mut same = current;
    same["name"] = json!({"givenName": "New", "familyName": "Surname"});
    same["title"] = json!("Director");
    same[ENTERPRISE] = json!({"department": "Sales"});
    same["emails"] = json!([{"value": "new@acme.test", "primary": true, "type": "work"}]);
    let again = w.call(Method::PUT, &format!("/Users/{id}"), Some(same)).await;
    assert_eq!(again.body["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn okta_patch_forms_all_reach_the_product() {
    let w = World::new().await;
    let id = w.post_user(okta_user("patch@acme.test", "Pat", "Ch")).await.id();
    let path = format!("/Users/{id}");
    let steps = [
        patch(json!([{"op": "replace", "path": "name.givenName", "value": "Patricia"}])),
        patch(json!([{"op": "replace", "value": {"title": "Lead", "name": {"familyName": "Chen"}}}])),
        patch(json!([{"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "Ops"}])),
        patch(json!([{"op": "remove", "path": "title"}])),
    ];
    for step in steps {
        let r = w.call(Method::PATCH, &path, Some(step.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{step} → {}", r.body);
    }
    let db = w.env.db().await;
    let p = w.env.product_user_where(&db, id, |p| p.version == 5).await;
    assert_eq!(p.first_name.as_deref(), Some("Patricia"));
    assert_eq!(p.last_name.as_deref(), Some("Chen"));
    assert_eq!(p.department.as_deref(), Some("Ops"));
    assert_eq!(p.job_title, None);
}

#[tokio::test]
async fn okta_deactivates_by_patch_without_path_and_reactivates() {
    let w = World::new().await;
    let id = w
        .post_user(okta_user("leaver@acme.test", "Lea", "Ver"))
        .await
        .id();
    let path = format!("/Users/{id}");
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(patch(json!([{"op": "replace", "value": {"active": false}}]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["active"], false);
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |p| !p.active).await;
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(patch(json!([{"op": "replace", "value": {"active": true}}]))),
        )
        .await;
    assert_eq!(r.body["active"], true);
    w.env
        .product_user_where(&db, id, |p| p.active && p.version == 3)
        .await;
}

#[tokio::test]
async fn entra_string_booleans_and_capitalised_ops_deactivate() {
    let w = World::new().await;
    let id = w.post_user(okta_user("entra@acme.test", "En", "Tra")).await.id();
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |p| !p.active).await;
}

#[tokio::test]
async fn custom_apps_deactivate_and_reactivate_with_put() {
    let w = World::new().await;
    let mut body = okta_user("custom@acme.test", "Cus", "Tom");
    let id = w.post_user(body.clone()).await.id();
    body["active"] = json!(false);
    assert_eq!(
        w.call(Method::PUT, &format!("/Users/{id}"), Some(body.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |p| !p.active).await;
    body["active"] = json!(true);
    w.call(Method::PUT, &format!("/Users/{id}"), Some(body)).await;
    w.env
        .product_user_where(&db, id, |p| p.active && p.version == 3)
        .await;
}

#[tokio::test]
async fn delete_answers_204_keeps_an_inactive_product_row_and_frees_the_user_name() {
    let w = World::new().await;
    let id = w
        .post_user(okta_user("gone@acme.test", "Gone", "Girl"))
        .await
        .id();
    let r = w.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(w.get(&format!("/Users/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        w.call(Method::DELETE, &format!("/Users/{id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    let db = w.env.db().await;
    let p = w.env.product_user_where(&db, id, |p| p.version == 2).await;
    assert!(!p.active, "training history stays, the user is inactive");
    let again = w.post_user(okta_user("gone@acme.test", "Gone", "Again")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.id(), id);
}
