//! Microsoft Entra ID's provisioning service without the `aadOptscim062020` flag, the form every
//! existing app gets ("Tutorial: Develop and plan provisioning for a SCIM endpoint",
//! https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups,
//! and "Known issues and resolutions with SCIM 2.0 protocol compliance",
//! …/application-provisioning-config-problem-scim-compatibility): capitalised ops, `"False"` as
//! a string, filtered and URN paths, the manager as a bare id, members removed by value arrays,
//! and the hard DELETE that follows a deactivation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{ENTERPRISE, GROUP_SCHEMA, Idp, USER_SCHEMA, eq, patch};

/// Not documented by Microsoft; the string GitHub's SCIM server recognises Entra by (a third-party
/// source, docs/idp-sources.md).
const UA: &str = "Microsoft Azure AD SCIM provisioning";

#[tokio::test]
async fn entra_provisions_updates_disables_manages_and_deletes_with_its_quirks() {
    let entra = Idp::new(UA).await;

    // "Test Connection": a filter on a random userName must answer an empty list, not 404.
    let probe = format!(
        "/Users?filter={}",
        eq("userName", "ab8d3fb4-6d3e-4d2f-9e4b-5c1f0e7a1111")
    );
    let r = entra
        .expect("test connection", Method::GET, &probe, None, StatusCode::OK)
        .await;
    assert_eq!(r.body["totalResults"], 0);

    let create = |user_name: &str, external_id: &str, given: &str| {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": external_id,
            "userName": user_name,
            "active": true,
            "displayName": given,
            "emails": [{"primary": true, "type": "work", "value": user_name}],
            "name": {"familyName": "Sample", "givenName": given},
            ENTERPRISE: {"department": "Finance", "employeeNumber": external_id}
        })
    };
    let lookup = format!(
        "/Users?filter={}",
        eq("userName", "Test_User_ab6490ee@contoso.test")
    );
    assert_eq!(
        entra
            .expect("pre-flight", Method::GET, &lookup, None, StatusCode::OK)
            .await
            .body["totalResults"],
        0
    );
    let id = entra
        .expect(
            "create user",
            Method::POST,
            "/Users",
            Some(create("Test_User_ab6490ee@contoso.test", "e-1001", "Alex")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let manager = entra
        .expect(
            "create manager",
            Method::POST,
            "/Users",
            Some(create("Test_User_boss@contoso.test", "e-1000", "Morgan")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let path = format!("/Users/{id}");

    // "Update User [Multi-valued properties]": capitalised op, a filtered path and a URN path.
    let update = patch(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alex.new@contoso.test"},
        {"op": "Replace", "path": "name.familyName", "value": "Updated"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Treasury"}
    ]));
    entra
        .expect("update", Method::PATCH, &path, Some(update), StatusCode::OK)
        .await;
    entra
        .product_user(id, |u| {
            u.email.as_deref() == Some("alex.new@contoso.test")
                && u.last_name.as_deref() == Some("Updated")
                && u.department.as_deref() == Some("Treasury")
        })
        .await;

    // The manager: a separate PATCH once both exist, its value the bare id.
    let set_manager =
        patch(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": manager.to_string()}]));
    entra
        .expect("manager", Method::PATCH, &path, Some(set_manager), StatusCode::OK)
        .await;
    entra.product_user(id, |u| u.manager_id == Some(manager)).await;

    // "Disable User": `"value": "False"`, a string.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let r = entra
        .expect("disable", Method::PATCH, &path, Some(disable), StatusCode::OK)
        .await;
    assert_eq!(
        r.body["active"], false,
        "a boolean in the answer, whatever came in"
    );
    entra.product_user(id, |u| !u.active).await;
    let enable = patch(json!([{"op": "Replace", "path": "active", "value": "True"}]));
    entra
        .expect("enable", Method::PATCH, &path, Some(enable), StatusCode::OK)
        .await;
    entra.product_user(id, |u| u.active).await;

    // Groups: created without members, read with excludedAttributes=members, members added and
    // removed by value arrays, answered 204 or 200.
    let group = entra
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP_SCHEMA], "externalId": "8f3a2c1e-entra", "displayName": "Finance"}),
            ),
            StatusCode::CREATED,
        )
        .await
        .id();
    let by_name = format!(
        "/Groups?excludedAttributes=members&filter={}",
        eq("displayName", "Finance")
    );
    let r = entra
        .expect(
            "get group by displayName",
            Method::GET,
            &by_name,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(r.body["Resources"][0]["id"], group.to_string());
    assert!(r.body["Resources"][0].get("members").is_none());
    let gpath = format!("/Groups/{group}");
    let members =
        json!([{"$ref": null, "value": id.to_string()}, {"$ref": null, "value": manager.to_string()}]);
    let r = entra
        .send(
            Method::PATCH,
            &gpath,
            Some(patch(json!([{"op": "Add", "path": "members", "value": members}]))),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    entra.product_members_become(group, &[id, manager]).await;
    let remove =
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": manager.to_string()}]}]);
    let r = entra.send(Method::PATCH, &gpath, Some(patch(remove))).await;
    assert!(r.status.is_success(), "{}", r.body);
    entra.product_members_become(group, &[id]).await;

    // Out of scope: disabled, then deleted about 30 days later.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    entra
        .expect(
            "disable again",
            Method::PATCH,
            &path,
            Some(disable),
            StatusCode::OK,
        )
        .await;
    entra
        .expect("delete", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    entra
        .expect("gone", Method::GET, &path, None, StatusCode::NOT_FOUND)
        .await;
    entra.product_user(id, |u| !u.active).await;
    entra.product_members_become(group, &[]).await;

    entra.activity_names(Some("Microsoft Entra ID"), 12).await;
}
