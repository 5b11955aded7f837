//! Conditional requests (RFC 7644 §3.14): a precondition about another tenant's resource is
//! never evaluated. B sending `If-Match` or `If-None-Match` with A's current ETag (or `*`, or a
//! stale tag) gets the 404 of an id that does not exist: a 412 or a 304 would say the
//! resource exists, and at which version. A's own preconditions work (the control).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::okta_user;
use uuid::Uuid;

use crate::{
    A_GROUP_NAME, ADA_USER_NAME, GROUP_SCHEMA, Two, assert_not_found_like_a_missing_id_with, etag, patch,
};

/// The requests B tries on A's resource at `/{kind}/{id}`, with the bodies the owner could send.
fn attempts(kind: &str) -> Vec<(Method, Option<Value>)> {
    let (put, patched) = if kind == "Users" {
        (
            okta_user(ADA_USER_NAME, "Hijacked", "ByB"),
            patch(json!([{"op": "replace", "value": {"active": false}}])),
        )
    } else {
        (
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Hijacked", "members": []}),
            patch(json!([{"op": "replace", "path": "displayName", "value": "Hijacked"}])),
        )
    };
    vec![
        (Method::GET, None),
        (Method::PUT, Some(put)),
        (Method::PATCH, Some(patched)),
        (Method::DELETE, None),
    ]
}

/// A's resources of `kind` with their current ETags, read with A's token.
async fn current(two: &Two, kind: &str, id: Uuid) -> (String, Value) {
    let r = two.as_a(Method::GET, &format!("/{kind}/{id}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (etag(&r), r.body)
}

#[tokio::test]
async fn preconditions_on_another_tenants_resources_are_a_plain_404() {
    let two = Two::new().await;
    let resources = [("Users", two.a.ada), ("Groups", two.a.group)];
    let mut before = Vec::new();
    for (kind, id) in resources {
        before.push(current(&two, kind, id).await);
    }
    two.writes_nothing(async {
        for ((kind, id), (tag, _)) in resources.iter().zip(&before) {
            let strong = tag.trim_start_matches("W/").to_owned();
            let stale = "W/\"999\"".to_owned();
            for (method, body) in attempts(kind) {
                // If-Match: A's current tag (which would let the write through), `*`, the strong
                // form, a list holding it, and a stale tag (which would be a 412).
                let mut headers = vec![
                    ("If-Match", tag.clone()),
                    ("If-Match", "*".to_owned()),
                    ("If-Match", strong.clone()),
                    ("If-Match", format!("{stale}, {tag}")),
                    ("If-Match", stale.clone()),
                ];
                // If-None-Match: on a GET, A's tag or `*` would be a 304; on a write, a 412.
                headers.extend([
                    ("If-None-Match", tag.clone()),
                    ("If-None-Match", "*".to_owned()),
                    ("If-None-Match", stale.clone()),
                ]);
                for (name, value) in &headers {
                    assert_not_found_like_a_missing_id_with(
                        &two,
                        method.clone(),
                        |id| format!("/{kind}/{id}"),
                        *id,
                        body.clone(),
                        &[(name, value.as_str())],
                    )
                    .await;
                }
            }
        }
    })
    .await;
    for ((kind, id), (tag, body)) in resources.iter().zip(&before) {
        let (now, now_body) = current(&two, kind, *id).await;
        assert_eq!(&now, tag, "{kind}: A's version moved");
        assert_eq!(&now_body, body, "{kind}: A's resource changed");
    }
    assert_eq!(before[0].1["active"], true);
    assert_eq!(before[1].1["displayName"], A_GROUP_NAME);
}

/// The control: the same headers on A's requests are evaluated, so B's 404s above are the
/// tenant boundary and not headers the api ignores.
#[tokio::test]
async fn the_owners_preconditions_are_evaluated() {
    let two = Two::new().await;
    let resources = [("Users", two.a.ada), ("Groups", two.a.group)];
    let mut tags = Vec::new();
    for (kind, id) in resources {
        tags.push(current(&two, kind, id).await.0);
    }
    two.writes_nothing(async {
        for ((kind, id), tag) in resources.iter().zip(&tags) {
            let path = format!("/{kind}/{id}");
            for inm in [tag.as_str(), "*"] {
                let r = two
                    .call_with(&two.a.token, Method::GET, &path, None, &[("If-None-Match", inm)])
                    .await;
                assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{kind} If-None-Match {inm}");
            }
            for (method, body) in attempts(kind).into_iter().skip(1) {
                let r = two
                    .call_with(
                        &two.a.token,
                        method.clone(),
                        &path,
                        body,
                        &[("If-Match", "W/\"999\"")],
                    )
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::PRECONDITION_FAILED,
                    "{kind} {method} stale If-Match: {}",
                    r.body
                );
            }
        }
    })
    .await;
    // A's current tag lets A's own write through.
    for (kind, id) in resources {
        let (tag, _) = current(&two, kind, id).await;
        let r = two
            .call_with(
                &two.a.token,
                Method::DELETE,
                &format!("/{kind}/{id}"),
                None,
                &[("If-Match", tag.as_str())],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{kind}: {}", r.body);
    }
}
