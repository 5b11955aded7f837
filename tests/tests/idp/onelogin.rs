//! OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" connector (docs/idp-sources.md §1).
//! The body is the admin's "SCIM JSON Template": the v2 Enterprise template (Living Security's
//! setup guide) has no `active`, a manager by the IdP's own id, and OneLogin sends `emails` as a
//! single object rather than an array (15five/django-scim2 `adapters.py`: "OneLogin sends a dict
//! despite the spec"). How OneLogin deactivates, and whether it updates by PUT or PATCH, is not
//! documented: those steps send the RFC 7644 forms.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{ENTERPRISE, Idp, USER_SCHEMA, eq, patch};

/// OneLogin's own header is not documented; Docker's setup guide (docker/docs `docker-hub/scim.md`)
/// has admins add this one under "Custom Headers".
const UA: &str = "OneLogin SCIM";

/// The v2 Enterprise template, filled in.
fn templated(username: &str, first: &str, last: &str, email: Value, manager: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": username,
        "name": {"familyName": last, "givenName": first},
        "emails": email,
        ENTERPRISE: {"department": "Customer Success", "manager": {"value": manager}}
    })
}

#[tokio::test]
async fn onelogin_provisions_from_its_template_with_emails_as_one_object() {
    let ol = Idp::new(UA).await;

    // The manager first, then a report naming them by OneLogin's id (`external_manager_id`).
    let boss = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "boss@acme.test",
        "externalId": "ol-90001",
        "emails": [{"value": "boss@acme.test", "type": "work", "primary": true}],
        ENTERPRISE: {"employeeNumber": "ol-90001"}
    });
    let boss = ol
        .expect(
            "create manager",
            Method::POST,
            "/Users",
            Some(boss),
            StatusCode::CREATED,
        )
        .await
        .id();
    let emails = json!([{"value": "kim@acme.test", "type": "work", "primary": true}]);
    let created = ol
        .expect(
            "create from the template",
            Method::POST,
            "/Users",
            Some(templated("kim@acme.test", "Kim", "Lee", emails, "ol-90001")),
            StatusCode::CREATED,
        )
        .await;
    let id = created.id();
    assert_eq!(
        created.body["active"], true,
        "a user pushed without `active` is active"
    );
    ol.product_user(id, |u| u.active && u.manager_id == Some(boss))
        .await;

    // The lookup any client makes before linking.
    let found = ol
        .expect(
            "lookup",
            Method::GET,
            &format!("/Users?filter={}", eq("userName", "kim@acme.test")),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);

    // A PATCH replace whose `emails` is one object: the one email of a list of one.
    let path = format!("/Users/{id}");
    let replace = patch(json!([{"op": "replace", "value": {
        "emails": {"value": "kim.lee@acme.test", "type": "work", "primary": true}
    }}]));
    let r = ol
        .expect(
            "email change",
            Method::PATCH,
            &path,
            Some(replace),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        r.body["emails"],
        json!([{"value": "kim.lee@acme.test", "type": "work", "primary": true}])
    );
    ol.product_user(id, |u| u.email.as_deref() == Some("kim.lee@acme.test"))
        .await;

    // Deactivation (RFC form), then a profile update from the template, which has no `active`:
    // it must not reactivate the user.
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    ol.expect("deactivate", Method::PATCH, &path, Some(off), StatusCode::OK)
        .await;
    ol.product_user(id, |u| !u.active).await;
    let email = json!({"value": "kim.lee@acme.test", "type": "work", "primary": true});
    let r = ol
        .expect(
            "profile update from the template",
            Method::PUT,
            &path,
            Some(templated("kim@acme.test", "Kim", "Lee-Park", email, "ol-90001")),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r.body["active"], false);
    ol.product_user(id, |u| u.last_name.as_deref() == Some("Lee-Park") && !u.active)
        .await;

    // Reactivation and delete (RFC forms).
    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    ol.expect("reactivate", Method::PATCH, &path, Some(on), StatusCode::OK)
        .await;
    ol.product_user(id, |u| u.active).await;
    ol.expect("delete", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    ol.product_user(id, |u| !u.active).await;

    ol.activity_names(Some("OneLogin"), 8).await;
}
