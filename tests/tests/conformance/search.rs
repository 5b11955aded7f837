//! `POST .search` (RFC 7644 §3.4.3) on /Users, /Groups and the server root, and the root
//! query `GET /` (§3.4.2.1).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::urlencode;
use uuid::Uuid;

use crate::{LIST_RESPONSE, SEARCH_REQUEST, Steps, World, assert_error, ids, patch};

fn resource_types(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap().to_owned())
        .collect()
}

// RFC 7644 §3.4.3: the search body carries the query parameters, and the answer is a 200
// ListResponse, the same as the equivalent GET.
#[tokio::test]
async fn a_users_search_is_the_list_with_its_parameters_in_the_body() {
    let w = World::without_worker().await;
    for (u, family) in [
        ("ann", "Young"),
        ("bob", "Abbot"),
        ("cid", "Moss"),
        ("dan", "Zed"),
    ] {
        w.user(json!({
            "userName": format!("{u}@acme.test"),
            "name": {"givenName": u, "familyName": family},
            "emails": [{"value": format!("{u}@acme.test"), "primary": true}],
        }))
        .await;
    }
    w.user(json!({"userName": "eve@example.test"})).await;
    let body = json!({
        "attributes": ["userName", "name.familyName"],
        "excludedAttributes": [],
        "filter": "userName ew \"@acme.test\"",
        "sortBy": "name.familyName",
        "sortOrder": "descending",
        "startIndex": 2,
        "count": 2,
    });
    let r = w.search("/Users", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let first = &r.body["Resources"][0];
    assert_eq!(first["userName"], "ann@acme.test");
    assert_eq!(first["name"], json!({"familyName": "Young"}));
    assert!(first.get("emails").is_none(), "projected: {first}");
    assert_eq!(r.body["Resources"][1]["userName"], "cid@acme.test");

    let get = w
        .get(&format!(
            "/Users?attributes=userName,name.familyName&filter={}&sortBy=name.familyName&sortOrder=descending&startIndex=2&count=2",
            urlencode("userName ew \"@acme.test\"")
        ))
        .await;
    assert_eq!(get.body, r.body, "the GET form answers the same");
}

// RFC 7644 §3.4.3 on /Groups, with a members filter and members asked for by attributes.
#[tokio::test]
async fn a_groups_search_filters_sorts_and_projects_like_the_group_list() {
    let w = World::without_worker().await;
    let u = w.named("member@acme.test").await;
    let eng = w.group("Engineering").await;
    let all = w.group("all-staff").await;
    w.group("Empty").await;
    for g in [eng, all] {
        let r = w
            .call(
                Method::PATCH,
                &format!("/Groups/{g}"),
                Some(patch(
                    json!([{"op": "add", "path": "members", "value": [{"value": u.to_string()}]}]),
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    let r = w
        .search(
            "/Groups",
            json!({
                "filter": format!("members[value eq \"{u}\"]"),
                "sortBy": "displayName",
                "attributes": ["displayName", "members"],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(ids(&r.body), [all, eng]);
    assert_eq!(r.body["Resources"][0]["members"][0]["value"], u.to_string());
}

// RFC 7644 §3.4.3: the request is a SearchRequest; without that schema it is invalidSyntax.
// Members of the wrong type are invalidValue, as in the query form.
#[tokio::test]
async fn a_search_without_the_search_request_schema_is_invalid_syntax() {
    let w = World::without_worker().await;
    for path in ["/Users/.search", "/Groups/.search", "/.search"] {
        for body in [
            json!({"filter": "userName pr"}),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            json!({"schemas": SEARCH_REQUEST}),
            json!([SEARCH_REQUEST]),
        ] {
            let r = w.call(Method::POST, path, Some(body.clone())).await;
            assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
        }
        let r = w
            .call(
                Method::POST,
                path,
                Some(json!({"schemas": [SEARCH_REQUEST], "count": "many"})),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
        let r = w
            .call(
                Method::POST,
                path,
                Some(json!({"schemas": [SEARCH_REQUEST], "filter": "userName zz \"a\""})),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    }
}

// RFC 7644 §3.4.3 at the server root: every resource type is searched. Ours lists users, then
// groups, and pages through both; totalResults counts both.
#[tokio::test]
async fn a_root_search_spans_users_then_groups_and_pages_across_them() {
    let w = World::without_worker().await;
    let users = [
        w.named("u1@acme.test").await,
        w.named("u2@acme.test").await,
        w.named("u3@acme.test").await,
    ];
    let groups = [w.group("G1").await, w.group("G2").await];
    let r = w.search("", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5);
    let everything: Vec<Uuid> = users.iter().chain(groups.iter()).copied().collect();
    assert_eq!(ids(&r.body), everything);
    assert_eq!(
        resource_types(&r.body),
        ["User", "User", "User", "Group", "Group"]
    );
    let r = w.search("", json!({"startIndex": 3, "count": 2})).await;
    assert_eq!(ids(&r.body), [users[2], groups[0]]);
    assert_eq!(r.body["totalResults"], 5);
    let r = w.search("", json!({"startIndex": 5, "count": 10})).await;
    assert_eq!(ids(&r.body), [groups[1]]);
    let r = w.search("", json!({"count": 0})).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    // The same query as GET on the root.
    let r = w.get("?startIndex=3&count=2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body), [users[2], groups[0]]);
}

// RFC 7644 §3.4.2.1 / §3.4.3: a filter attribute one type lacks matches nothing of that type;
// one that no type has is still an invalidFilter, and an unknown sortBy an invalidValue.
#[tokio::test]
async fn a_root_filter_on_one_types_attribute_matches_nothing_of_the_other() {
    let w = World::without_worker().await;
    let ann = w
        .user(json!({"userName": "ann@acme.test", "displayName": "Eng"}))
        .await;
    let bob = w
        .user(json!({"userName": "bob@acme.test", "displayName": "Bob"}))
        .await;
    let eng = w.group("Eng").await;
    let ops = w.group("Ops").await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Groups/{ops}"),
            Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": bob.to_string()}]}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let search = |filter: String| w.search("", json!({"filter": filter}));
    let r = search("userName sw \"a\"".into()).await;
    assert_eq!(ids(&r.body), [ann]);
    let r = search("displayName eq \"eng\"".into()).await;
    assert_eq!(ids(&r.body), [ann, eng], "both types have displayName");
    let r = search(format!(
        "members[value eq \"{bob}\"] or userName eq \"ann@acme.test\""
    ))
    .await;
    assert_eq!(ids(&r.body), [ann, ops]);
    let r = search("urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr".into()).await;
    assert_eq!(ids(&r.body), [eng, ops], "a Group-qualified name is no user's");
    let r = search("shoeSize eq \"42\"".into()).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"));

    // Sorting: each type in its own order; a type without the attribute keeps id order.
    let r = w
        .search(
            "",
            json!({"sortBy": "displayName", "sortOrder": "descending", "attributes": ["displayName"]}),
        )
        .await;
    assert_eq!(ids(&r.body), [ann, bob, ops, eng]);
    assert!(r.body["Resources"][0].get("userName").is_none(), "projected");
    let r = w.search("", json!({"sortBy": "userName"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body)[..2], [ann, bob]);
    let r = w.search("", json!({"sortBy": "shoeSize"})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
}
