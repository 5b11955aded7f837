//! Rippling's custom SCIM app (docs/idp-sources.md §4), thinly documented: bearer auth ("SCIM
//! Authorization Method: Bearer Token", WorkOS's and Kombo's setup guides), a connection test
//! that reads `/ServiceProviderConfig` (a third-party guide, authn-sh-docs), the attributes the
//! admin lists as supported (`externalId`, `emails.primary`, `name.givenName`,
//! `name.familyName`, `employeeNumber`), and the admin's capability flags: "Supports
//! Pagination", "Create & Delete Groups", "Use PATCH to edit Groups" (off: groups are replaced by
//! PUT). No request body is documented: every write here is the RFC 7644 form for those
//! attributes and flags.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{ENTERPRISE, GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// Rippling's header is not documented, so the replay sends one that names no IdP.
const UA: &str = "undocumented-scim-client/1.0";

#[tokio::test]
async fn rippling_with_its_documented_attributes_and_both_group_edit_flags() {
    let rp = Idp::new(UA).await;
    let config = rp
        .expect(
            "test connection",
            Method::GET,
            "/ServiceProviderConfig",
            None,
            StatusCode::OK,
        )
        .await;
    // "Supports Pagination" should be on: a list without paging answers one page of 100.
    assert_eq!(config.body["pagination"]["index"], true);

    let user = |n: u32, last: &str| {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": format!("rippling-emp-{n}"),
            "userName": format!("r{n}@acme.test"),
            "name": {"givenName": "Rip", "familyName": last},
            "emails": [{"value": format!("r{n}@acme.test"), "primary": true}],
            ENTERPRISE: {"employeeNumber": format!("{n}")}
        })
    };
    let a = rp
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user(1, "One")),
            StatusCode::CREATED,
        )
        .await
        .id();
    let b = rp
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(user(2, "Two")),
            StatusCode::CREATED,
        )
        .await
        .id();
    rp.product_user(a, |u| {
        u.external_id.as_deref() == Some("rippling-emp-1")
            && u.employee_number.as_deref() == Some("1")
            && u.email.as_deref() == Some("r1@acme.test")
    })
    .await;
    let page = rp
        .expect(
            "paged list",
            Method::GET,
            "/Users?startIndex=1&count=1",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (
            page.body["totalResults"].as_u64(),
            page.body["itemsPerPage"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let path = format!("/Users/{a}");
    rp.expect("update", Method::PUT, &path, Some(user(1, "Uno")), StatusCode::OK)
        .await;
    rp.product_user(a, |u| u.last_name.as_deref() == Some("Uno"))
        .await;
    rp.expect(
        "terminate",
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
        StatusCode::OK,
    )
    .await;
    rp.product_user(a, |u| !u.active).await;

    // "Create & Delete Groups" on; "Use PATCH to edit Groups" off, then on.
    let group = rp
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": [{"value": a.to_string()}]})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let put = json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": [{"value": a.to_string()}, {"value": b.to_string()}]});
    rp.expect(
        "edit group by PUT",
        Method::PUT,
        &gpath,
        Some(put),
        StatusCode::OK,
    )
    .await;
    rp.product_members_become(group, &[a, b]).await;
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]));
    assert!(
        rp.send(Method::PATCH, &gpath, Some(remove))
            .await
            .status
            .is_success()
    );
    rp.product_members_become(group, &[b]).await;
    rp.expect(
        "delete group",
        Method::DELETE,
        &gpath,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    rp.product_group_exists(group, false).await;
    rp.activity_names(None, 10).await;
}
