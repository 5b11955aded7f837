//! SailPoint Identity Security Cloud's SCIM 2.0 connector (docs/idp-sources.md §5): the discovery
//! endpoints it "requires … with valid response for connector execution" (ISC SaaS SCIM 2.0
//! prerequisites), account aggregation paging through every user and filtering with an admin's
//! filter string (`userName sw "S"`, the connector docs' example), and enable/disable sent as an
//! `add` **without a path** whose value is `{"active": false}` (SailPoint developer forum,
//! "SCIM API PATCH op", developer.sailpoint.com/discuss/t/scim-api-patch-op/7752). Create, group
//! membership and delete are not documented in wire form: those steps send the RFC 7644 forms.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::{GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// SailPoint's header is not documented (docs/idp-sources.md), so the replay sends one that
/// names no IdP.
const UA: &str = "undocumented-scim-client/1.0";

#[tokio::test]
async fn sailpoint_discovers_aggregates_and_toggles_active_with_a_pathless_add() {
    let sp = Idp::new(UA).await;

    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/ResourceTypes/User",
        "/ResourceTypes/Group",
    ] {
        let r = sp
            .expect("discovery", Method::GET, path, None, StatusCode::OK)
            .await;
        assert!(r.body["schemas"].is_array(), "{path}: {}", r.body);
    }

    let mut ids = Vec::new();
    for name in ["Sam", "Sasha", "Terry", "Sky", "Uma"] {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "userName": name,
            "name": {"givenName": name, "familyName": "Point"},
            "emails": [{"value": format!("{}@acme.test", name.to_lowercase()), "type": "work", "primary": true}],
            "active": true
        });
        ids.push(
            sp.expect("create", Method::POST, "/Users", Some(body), StatusCode::CREATED)
                .await
                .id(),
        );
    }

    // Account aggregation: every page, then the admin's filter string.
    let mut seen: Vec<Uuid> = Vec::new();
    let mut start = 1;
    loop {
        let page = sp
            .expect(
                "aggregate",
                Method::GET,
                &format!("/Users?startIndex={start}&count=2"),
                None,
                StatusCode::OK,
            )
            .await
            .body;
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        seen.extend(
            resources
                .iter()
                .map(|u| u["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
        start += resources.len();
        if resources.is_empty() || start > page["totalResults"].as_u64().unwrap() as usize {
            break;
        }
    }
    seen.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(seen, all);
    let s = sp
        .expect(
            "filtered aggregation",
            Method::GET,
            "/Users?filter=userName%20sw%20%22S%22",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(s.body["totalResults"], 3, "Sam, Sasha and Sky: {}", s.body);

    // Disable and enable: `add`, no path.
    let sam = format!("/Users/{}", ids[0]);
    let r = sp
        .expect(
            "disable",
            Method::PATCH,
            &sam,
            Some(patch(json!([{"op": "add", "value": {"active": false}}]))),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r.body["active"], false);
    sp.product_user(ids[0], |u| !u.active).await;
    sp.expect(
        "enable",
        Method::PATCH,
        &sam,
        Some(patch(json!([{"op": "add", "value": {"active": true}}]))),
        StatusCode::OK,
    )
    .await;
    sp.product_user(ids[0], |u| u.active).await;

    // Entitlements are groups: membership added and removed (RFC forms).
    let group = sp
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Finance Approvers"})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let add = patch(
        json!([{"op": "add", "path": "members", "value": [{"value": ids[0].to_string()}, {"value": ids[1].to_string()}]}]),
    );
    assert!(
        sp.send(Method::PATCH, &gpath, Some(add))
            .await
            .status
            .is_success()
    );
    sp.product_members_become(group, &ids[..2]).await;
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]));
    assert!(
        sp.send(Method::PATCH, &gpath, Some(remove))
            .await
            .status
            .is_success()
    );
    sp.product_members_become(group, &ids[1..2]).await;

    sp.expect("delete", Method::DELETE, &sam, None, StatusCode::NO_CONTENT)
        .await;
    sp.product_user(ids[0], |u| !u.active).await;
    sp.activity_names(None, 20).await;
}
