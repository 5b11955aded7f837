//! Okta's SCIM 2.0 client (Okta's "SCIM 2.0 protocol reference",
//! https://developer.okta.com/docs/reference/scim/scim-20/, and ../shared/OKTA.md): the
//! credential test, assign (filter then POST), profile PUT, deactivate and reactivate by a
//! no-path PATCH, group push with its membership PATCHes and the rename it sends with each.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{ENTERPRISE, GROUP_SCHEMA, Idp, USER_SCHEMA, eq, patch};

/// On every example request in Okta's reference.
const UA: &str = "Okta SCIM Client 1.0.0";

#[tokio::test]
async fn okta_assigns_updates_deactivates_reactivates_and_pushes_a_group() {
    let okta = Idp::new(UA).await;

    // "Test API Credentials".
    let r = okta
        .expect(
            "test credentials",
            Method::GET,
            "/Users?startIndex=1&count=2",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(r.body["totalResults"], 0);
    assert!(r.body["itemsPerPage"].is_u64() && r.body["startIndex"].is_u64());

    // Assign: look the user up first, then create.
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        eq("userName", "ada@acme.test")
    );
    let none = okta
        .expect("lookup", Method::GET, &lookup, None, StatusCode::OK)
        .await;
    assert_eq!(none.body["totalResults"], 0);
    let user = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "ada@acme.test",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": "ada@acme.test", "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": "00u1ab2cd3EfGhIjK4x7",
        "groups": [],
        "password": "Okta-sends-it-when-password-sync-is-on-1",
        "active": true,
        ENTERPRISE: {"department": "R&D"}
    });
    let created = okta
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user.clone()),
            StatusCode::CREATED,
        )
        .await;
    let id = created.id();
    assert!(
        created.body.get("password").is_none(),
        "passwords are never returned or kept"
    );
    okta.product_user(id, |u| u.active && u.department.as_deref() == Some("R&D"))
        .await;

    // Okta finds returning users by their userName in any case, inactive ones included.
    let upper = format!(
        "/Users?filter={}&startIndex=1&count=100",
        eq("userName", "ADA@ACME.TEST")
    );
    let found = okta
        .expect("lookup in capitals", Method::GET, &upper, None, StatusCode::OK)
        .await;
    assert_eq!(found.body["Resources"][0]["id"], id.to_string());

    // Profile change: GET, then PUT of the whole resource.
    let path = format!("/Users/{id}");
    let mut whole = okta
        .expect("read", Method::GET, &path, None, StatusCode::OK)
        .await
        .body;
    whole["title"] = json!("Chief Analyst");
    whole[ENTERPRISE]["department"] = json!("Research");
    okta.expect("profile PUT", Method::PUT, &path, Some(whole), StatusCode::OK)
        .await;
    okta.product_user(id, |u| {
        u.job_title.as_deref() == Some("Chief Analyst") && u.department.as_deref() == Some("Research")
    })
    .await;

    // Deactivate and reactivate: a PATCH without a path (catalog apps).
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let r = okta
        .expect("deactivate", Method::PATCH, &path, Some(off), StatusCode::OK)
        .await;
    assert_eq!(r.body["active"], false);
    okta.product_user(id, |u| !u.active).await;
    let on = patch(json!([{"op": "replace", "value": {"active": true}}]));
    okta.expect("reactivate", Method::PATCH, &path, Some(on), StatusCode::OK)
        .await;
    okta.product_user(id, |u| u.active).await;

    // Group push: created empty, members added, the unchanged rename sent along, one removed.
    let grete = okta
        .expect(
            "create a second user",
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": "grete@acme.test", "active": true})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let group = okta
        .expect(
            "push a group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "members": []})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let rename = json!({"op": "replace", "value": {"id": group.to_string(), "displayName": "Engineering"}});
    let add = json!({"op": "add", "path": "members", "value": [
        {"value": id.to_string(), "display": "ada@acme.test"},
        {"value": grete.to_string(), "display": "grete@acme.test"}
    ]});
    let r = okta
        .send(Method::PATCH, &gpath, Some(patch(json!([rename.clone(), add]))))
        .await;
    assert!(
        r.status == StatusCode::OK || r.status == StatusCode::NO_CONTENT,
        "{}",
        r.body
    );
    okta.product_members_become(group, &[id, grete]).await;
    let remove = json!({"op": "remove", "path": format!("members[value eq \"{grete}\"]")});
    let r = okta
        .send(Method::PATCH, &gpath, Some(patch(json!([rename, remove]))))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    okta.product_members_become(group, &[id]).await;

    // Unlink the pushed group.
    okta.expect(
        "unlink the group",
        Method::DELETE,
        &gpath,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    okta.product_group_exists(group, false).await;

    okta.activity_names(Some("Okta"), 10).await;
}
