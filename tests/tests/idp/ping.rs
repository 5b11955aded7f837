//! PingOne's SCIM provisioner and PingFederate's SCIM connector (docs/idp-sources.md §3): the
//! user lookup by the admin's filter expression, whose documented examples are `username Eq
//! "%s"` and `email Co "%s"` (mixed-case operator, lower-case attribute: "SCIM filter
//! expressions", docs.pingidentity.com/pingone/integrations/p1_scim_filter_expressions.html;
//! `email` there is no SCIM attribute, so the admin writes `emails.value Co "%s"`);
//! "Provision disabled users", which creates a user already inactive; re-enabling disabled
//! users; the configurable "Remove User Action" (disable or delete); group updates by PATCH
//! (connector 1.4 changelog). Auth is the "OAuth 2 Bearer Token" option, a static bearer token.
//! The wire forms of create, disable and the member operations are not documented: those steps
//! send the RFC 7644 forms.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{ENTERPRISE, GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// PingFederate sends Apache HttpClient's default (GitHub's SCIM server matches it so, a
/// third-party source in docs/idp-sources.md); Keycloak's client sends the same product, so the
/// header names no IdP.
const UA: &str = "Apache-HttpClient/4.5.13 (Java/11.0.22)";

#[tokio::test]
async fn ping_looks_up_with_its_filter_expression_and_provisions_disabled_users() {
    let ping = Idp::new(UA).await;

    // The lookup before a create: `username Eq "%s"`, then `email Co "%s"`.
    let by_name = "/Users?filter=username%20Eq%20%22pat%40acme.test%22";
    let none = ping
        .expect("lookup", Method::GET, by_name, None, StatusCode::OK)
        .await;
    assert_eq!(none.body["totalResults"], 0);

    // "Provision disabled users": a user disabled in PingOne arrives inactive.
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "pat@acme.test",
        "name": {"givenName": "Pat", "familyName": "Ping"},
        "emails": [{"value": "pat@acme.test", "type": "work", "primary": true}],
        "active": false,
        ENTERPRISE: {"employeeNumber": "P-7", "department": "Ops"}
    });
    let id = ping
        .expect(
            "create disabled",
            Method::POST,
            "/Users",
            Some(body),
            StatusCode::CREATED,
        )
        .await
        .id();
    ping.product_user(id, |u| !u.active && u.employee_number.as_deref() == Some("P-7"))
        .await;
    // The documented `email Co "%s"` names no SCIM attribute (the User's is `emails`): the admin
    // sets the expression, and gets a 400 that says so rather than an empty lookup.
    let r = ping
        .send(Method::GET, "/Users?filter=email%20Co%20%22pat%40acme%22", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidFilter");
    assert!(
        r.body["detail"].as_str().unwrap().contains("'email'"),
        "{}",
        r.body
    );
    for filter in [
        by_name,
        "/Users?filter=emails.value%20Co%20%22pat%40acme%22",
        "/Users?filter=USERNAME%20EQ%20%22PAT%40ACME.TEST%22",
    ] {
        let found = ping
            .expect("lookup", Method::GET, filter, None, StatusCode::OK)
            .await;
        assert_eq!(found.body["totalResults"], 1, "{filter}: {}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], id.to_string());
    }

    // "PingFederate can also re-enable disabled users"; then a profile update.
    let path = format!("/Users/{id}");
    ping.expect(
        "enable",
        Method::PATCH,
        &path,
        Some(patch(json!([{"op": "replace", "path": "active", "value": true}]))),
        StatusCode::OK,
    )
    .await;
    ping.product_user(id, |u| u.active).await;
    let title = patch(json!([{"op": "replace", "path": "title", "value": "SRE"}]));
    ping.expect("update", Method::PATCH, &path, Some(title), StatusCode::OK)
        .await;
    ping.product_user(id, |u| u.job_title.as_deref() == Some("SRE"))
        .await;

    // Groups, updated by PATCH.
    let group = ping
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Ping Operators"})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": id.to_string()}]}]));
    assert!(
        ping.send(Method::PATCH, &gpath, Some(add))
            .await
            .status
            .is_success()
    );
    ping.product_members_become(group, &[id]).await;

    // "Remove User Action": disable, and later delete.
    ping.expect(
        "disable",
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
        StatusCode::OK,
    )
    .await;
    ping.product_user(id, |u| !u.active).await;
    ping.expect("delete", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    ping.product_members_become(group, &[]).await;

    ping.activity_names(None, 11).await;
}
