//! Keycloak's SCIM client extension (mitodl/keycloak-scim @ 099fbe83, package `sh.libre.scim`,
//! docs/idp-sources.md §7), in both of its modes: the default, where every update is a PUT of
//! the whole resource, and `user-patchOp`/`group-patchOp`, where it PATCHes `active` **as a
//! string** (`active.toString()`, UserAdapter.java) and replaces a group's whole member list.
//! Users carry the Keycloak roles marked `scim=true`; group members carry a relative `$ref`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ADMIN_KEY, GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// Not set by the extension: the SCIM-SDK client's Apache HttpClient 4 default (inferred from
/// the code, docs/idp-sources.md). PingFederate sends the same product, so it names no IdP.
const UA: &str = "Apache-HttpClient/4.5.14 (Java/17.0.12)";

/// `UserAdapter.toSCIM`: externalId is Keycloak's id, emails carry neither type nor primary.
fn user(keycloak_id: &str, username: &str, first: &str, last: &str, enabled: bool) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "externalId": keycloak_id,
        "userName": username,
        "displayName": format!("{first} {last}"),
        "name": {"givenName": first, "familyName": last},
        "emails": [{"value": format!("{username}@acme.test")}],
        "active": enabled,
        "roles": [{"value": "phishing-reporter"}]
    })
}

#[tokio::test]
async fn keycloak_provisions_with_put_by_default_and_string_booleans_in_patch_mode() {
    let kc = Idp::new(UA).await;
    // The roles marked `scim=true` in Keycloak must be roles the tenant defined.
    let (status, body) =
        kc.w.admin(
            ADMIN_KEY,
            Method::PUT,
            &format!("/admin/api/tenants/{}/roles", kc.w.tenant),
            Some(json!({"roles": [{"value": "phishing-reporter", "display": "Phishing reporter"}]})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    // The SDK reads the discovery endpoints ("/ServiceProviderConfig /Schemas and
    // /ResourcesTypes should be accessible").
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        kc.expect("discovery", Method::GET, path, None, StatusCode::OK)
            .await;
    }

    // REGISTER or admin CREATE: POST.
    let kc_id = "5f8c1d3e-7a2b-4c6d-9e0f-1a2b3c4d5e6f";
    let created = kc
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user(kc_id, "jdoe", "John", "Doe", true)),
            StatusCode::CREATED,
        )
        .await;
    let id = created.id();
    kc.product_user(id, |u| {
        u.idp_roles == ["phishing-reporter"] && u.external_id.as_deref() == Some(kc_id)
    })
    .await;
    let path = format!("/Users/{id}");

    // Default mode: an admin UPDATE (a rename, then disabling) is a PUT of the whole user.
    kc.expect(
        "rename",
        Method::PUT,
        &path,
        Some(user(kc_id, "jdoe", "John", "Dough", true)),
        StatusCode::OK,
    )
    .await;
    kc.product_user(id, |u| u.last_name.as_deref() == Some("Dough"))
        .await;
    kc.expect(
        "disable by PUT",
        Method::PUT,
        &path,
        Some(user(kc_id, "jdoe", "John", "Dough", false)),
        StatusCode::OK,
    )
    .await;
    kc.product_user(id, |u| !u.active).await;

    // `user-patchOp=true`: three path replaces, `active` as the string `"true"`/`"false"`.
    let ops = |active: bool| {
        patch(json!([
            {"op": "replace", "path": "active", "value": active.to_string()},
            {"op": "replace", "path": "userName", "value": "jdoe"},
            {"op": "replace", "path": "displayName", "value": "John Dough"}
        ]))
    };
    let r = kc
        .expect(
            "enable by PATCH",
            Method::PATCH,
            &path,
            Some(ops(true)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r.body["active"], true, "stored as a boolean");
    kc.product_user(id, |u| u.active).await;
    kc.expect(
        "disable by PATCH",
        Method::PATCH,
        &path,
        Some(ops(false)),
        StatusCode::OK,
    )
    .await;
    kc.product_user(id, |u| !u.active).await;
    kc.expect(
        "enable again",
        Method::PATCH,
        &path,
        Some(ops(true)),
        StatusCode::OK,
    )
    .await;

    // Groups: POST with members whose `$ref` is relative ("Users/<id>").
    let other = kc
        .expect(
            "create a second user",
            Method::POST,
            "/Users",
            Some(user(
                "0a1b2c3d-0000-4000-8000-000000000002",
                "asmith",
                "Ann",
                "Smith",
                true,
            )),
            StatusCode::CREATED,
        )
        .await
        .id();
    let member = |u: Uuid| json!({"value": u.to_string(), "$ref": format!("Users/{u}")});
    let group = kc
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Security Champions",
                "externalId": "kc-group-1",
                "members": [member(id)]
            })),
            StatusCode::CREATED,
        )
        .await
        .id();
    kc.product_members_become(group, &[id]).await;
    let gpath = format!("/Groups/{group}");

    // Default mode: a PUT with the full member list.
    let put = json!({
        "schemas": [GROUP_SCHEMA], "displayName": "Security Champions", "externalId": "kc-group-1",
        "members": [member(id), member(other)]
    });
    kc.expect("group PUT", Method::PUT, &gpath, Some(put), StatusCode::OK)
        .await;
    kc.product_members_become(group, &[id, other]).await;

    // `group-patchOp=true`: the member list, displayName and externalId replaced; a group left
    // without members gets `remove members`.
    let replace = patch(json!([
        {"op": "replace", "path": "members", "value": [member(other)]},
        {"op": "replace", "path": "displayName", "value": "Security Champs"},
        {"op": "replace", "path": "externalId", "value": "kc-group-1"}
    ]));
    let r = kc.send(Method::PATCH, &gpath, Some(replace)).await;
    assert!(r.status.is_success(), "{}", r.body);
    kc.product_members_become(group, &[other]).await;
    let r = kc
        .send(
            Method::PATCH,
            &gpath,
            Some(patch(json!([{"op": "remove", "path": "members"}]))),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    kc.product_members_become(group, &[]).await;

    // Deleting the user in Keycloak.
    kc.expect("delete", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    kc.product_user(id, |u| !u.active).await;

    // Apache-HttpClient is also PingFederate's: the log keeps the header and names no IdP.
    kc.activity_names(None, 14).await;
}

// With `Content-Type: application/json` (the extension's setting for servers that refuse
// `application/scim+json`) the same requests work.
#[tokio::test]
async fn keycloak_with_plain_json_content_type() {
    let kc = Idp::with_content_type(UA, "application/json").await;
    let r = kc
        .send(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": "plain", "active": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    kc.product_user(r.id(), |u| u.active).await;
}
