//! JumpCloud's custom SCIM integration (docs/idp-sources.md §2). Its "Test Connection" writes:
//! "A test user and test group are created to test the integration. Both will be deleted if the
//! DELETE method is supported by the service provider" (JumpCloud, "Identity Management using a
//! Custom SCIM Integration", jumpcloud.com/support/…custom-scim-identity-management-integration).
//! Group members are added and removed in the Entra style, `path: "members"` with a value array
//! and no filter (a third-party guide, app.uni-moni.com/en/kb/sso-setup-jumpcloud). The user
//! body, updates and deactivation are not documented in wire form: those steps send the RFC 7644
//! forms, without extensions ("no special attribute mapping or extension schemas").

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{GROUP_SCHEMA, Idp, USER_SCHEMA, eq, patch};

/// JumpCloud's header is not documented, so the replay sends one that names no IdP.
const UA: &str = "undocumented-scim-client/1.0";

fn user(name: &str) -> serde_json::Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": "Jay", "familyName": "Cloud"},
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true
    })
}

#[tokio::test]
async fn jumpclouds_connection_test_creates_and_deletes_and_members_move_by_value_arrays() {
    let jc = Idp::new(UA).await;

    // Test Connection: a test user and a test group, created, then deleted.
    let test_user = jc
        .expect(
            "test user",
            Method::POST,
            "/Users",
            Some(user("jc-test@acme.test")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let test_group = jc
        .expect(
            "test group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "JumpCloud Test Group"})),
            StatusCode::CREATED,
        )
        .await
        .id();
    jc.expect(
        "delete test user",
        Method::DELETE,
        &format!("/Users/{test_user}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    jc.expect(
        "delete test group",
        Method::DELETE,
        &format!("/Groups/{test_group}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    // The test leaves no active user in the product and can run again under the same names.
    jc.product_user(test_user, |u| !u.active).await;
    jc.product_group_exists(test_group, false).await;
    let again = jc
        .send(Method::POST, "/Users", Some(user("jc-test@acme.test")))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    jc.expect(
        "delete test user again",
        Method::DELETE,
        &format!("/Users/{}", again.id()),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Real users and a group whose membership JumpCloud manages.
    let a = jc
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user("jay@acme.test")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let b = jc
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user("kay@acme.test")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let found = jc
        .expect(
            "lookup",
            Method::GET,
            &format!("/Users?filter={}", eq("userName", "jay@acme.test")),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(found.body["Resources"][0]["id"], a.to_string());
    let group = jc
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let add = patch(
        json!([{"op": "add", "path": "members", "value": [{"value": a.to_string()}, {"value": b.to_string()}]}]),
    );
    assert!(
        jc.send(Method::PATCH, &gpath, Some(add))
            .await
            .status
            .is_success()
    );
    jc.product_members_become(group, &[a, b]).await;
    let remove = patch(json!([{"op": "remove", "path": "members", "value": [{"value": a.to_string()}]}]));
    assert!(
        jc.send(Method::PATCH, &gpath, Some(remove))
            .await
            .status
            .is_success()
    );
    jc.product_members_become(group, &[b]).await;

    // Suspension and deletion (RFC forms).
    let path = format!("/Users/{b}");
    jc.expect(
        "suspend",
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
        StatusCode::OK,
    )
    .await;
    jc.product_user(b, |u| !u.active).await;
    jc.expect("delete", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    jc.product_members_become(group, &[]).await;
    jc.activity_names(None, 12).await;
}
