//! `/Bulk` and `/Me`, which the api answers 501 Not Implemented: both tenants get the same
//! answer, whatever the request names, and it says nothing of either tenant and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::okta_user;

use crate::{ADA_USER_NAME, GROUP_SCHEMA, Two, bulk_request, patch};

/// Both tenants' answers to `method path` are the same 501, naming nothing of any tenant.
async fn assert_same_501_for_both(two: &Two, method: Method, path: &str, body: Option<Value>) {
    let secrets = two.identifying();
    let a = two.as_a(method.clone(), path, body.clone()).await;
    let b = two.as_b(method.clone(), path, body).await;
    for (who, r) in [("A", &a), ("B", &b)] {
        assert_eq!(
            r.status,
            StatusCode::NOT_IMPLEMENTED,
            "{who}: {method} {path}: {}",
            r.body
        );
        tests::assert_scim_error(r);
        for header in ["etag", "location"] {
            assert_eq!(r.header(header), None, "{who}: {method} {path}: {header}");
        }
        let text = r.body.to_string();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{who}: {method} {path} shows {s}: {text}"
            );
        }
    }
    assert_eq!(a.body, b.body, "{method} {path}: the tenants' answers differ");
    assert_eq!(
        a.header("content-type"),
        b.header("content-type"),
        "{method} {path}"
    );
}

#[tokio::test]
async fn bulk_answers_both_tenants_alike_and_applies_nothing() {
    let two = Two::new().await;
    let (ada, group) = (two.a.ada, two.a.group);
    let requests = [
        // B aiming at A's resources by id.
        bulk_request(json!([
            {"method": "PATCH", "path": format!("/Users/{ada}"),
             "data": patch(json!([{"op": "replace", "value": {"active": false}}]))},
            {"method": "PUT", "path": format!("/Users/{ada}"), "data": okta_user(ADA_USER_NAME, "Hi", "Jacked")},
            {"method": "DELETE", "path": format!("/Groups/{group}")},
        ])),
        // B reusing A's userName, and a group whose members name A's user.
        bulk_request(json!([
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": okta_user(ADA_USER_NAME, "Ada", "Copy")},
            {"method": "POST", "path": "/Groups", "bulkId": "g1",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "Smuggled", "members": [{"value": ada.to_string()}]}},
        ])),
        // Not even a bulk request.
        json!({"Operations": []}),
    ];
    two.writes_nothing(async {
        for body in requests {
            assert_same_501_for_both(&two, Method::POST, "/Bulk", Some(body)).await;
        }
    })
    .await;
    let r = two.as_b(Method::GET, "/Users?count=1000", None).await;
    assert_eq!(
        r.body["totalResults"], 1,
        "nothing of the bulk requests was applied: {}",
        r.body
    );
}

#[tokio::test]
async fn me_answers_both_tenants_alike_with_every_method() {
    let two = Two::new().await;
    let body = okta_user(ADA_USER_NAME, "Ada", "Me");
    two.writes_nothing(async {
        for (method, body) in [
            (Method::GET, None),
            (Method::POST, Some(body.clone())),
            (Method::PUT, Some(body.clone())),
            (
                Method::PATCH,
                Some(patch(json!([{"op": "replace", "value": {"active": false}}]))),
            ),
            (Method::DELETE, None),
        ] {
            assert_same_501_for_both(&two, method, "/Me", body).await;
        }
        assert_same_501_for_both(&two, Method::GET, "/Me?attributes=userName,groups", None).await;
    })
    .await;
}
