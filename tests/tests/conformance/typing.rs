//! Attribute types and mutability on input (RFC 7643 §2.3, §7; RFC 7644 §3.3, §3.5, §3.12).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{ENTERPRISE, GROUP_SCHEMA, Steps, USER_SCHEMA, World, assert_error, patch};

// RFC 7643 §2.3 and RFC 7644 §3.12: a value that does not fit the attribute's type is a 400
// invalidValue, on POST, PUT and PATCH alike, and nothing is stored.
#[tokio::test]
async fn values_of_the_wrong_type_are_invalid_values() {
    let w = World::without_worker().await;
    let with = |attr: &str, value: Value| {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": "typed@acme.test"});
        body[attr] = value;
        body
    };
    let wrong = [
        with("userName", json!(5)),
        with("userName", json!({"value": "x"})),
        with("active", json!("yes")),
        with("active", json!(1)),
        with("name", json!("Ada Lovelace")),
        with("name", json!({"givenName": 7})),
        with("emails", json!([5])),
        with("emails", json!([{"value": "a@x.test", "primary": "sometimes"}])),
        with("displayName", json!(["a", "b"])),
        with(ENTERPRISE, json!({"department": false})),
        with(ENTERPRISE, json!("Sales")),
    ];
    for body in &wrong {
        let r = w.call(Method::POST, "/Users", Some(body.clone())).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    assert_eq!(w.get("/Users?count=0").await.body["totalResults"], 0);

    let id = w.named("typed@acme.test").await;
    let path = format!("/Users/{id}");
    for body in &wrong {
        let r = w.call(Method::PUT, &path, Some(body.clone())).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    for (p, v) in [
        ("active", json!("maybe")),
        ("name.familyName", json!(3)),
        ("emails", json!([{"value": 1}])),
        ("title", json!({"a": 1})),
    ] {
        let r = w
            .call(
                Method::PATCH,
                &path,
                Some(patch(json!([{"op": "replace", "path": p, "value": v}]))),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    let r = w
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": 42})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
}

// RFC 7644 §3.3 and §3.5.1: readOnly attributes (id, meta, groups) in a request body are
// ignored, not errors; the server's values stand.
#[tokio::test]
async fn read_only_attributes_in_a_body_are_ignored() {
    let w = World::without_worker().await;
    let gid = w.group("Readers").await;
    let body = json!({
        "schemas": [USER_SCHEMA],
        "id": "chosen-by-the-client",
        "userName": "ro@acme.test",
        "meta": {"version": "W/\"99\"", "created": "2000-01-01T00:00:00Z", "resourceType": "Group"},
        "groups": [{"value": gid.to_string(), "display": "Readers"}],
    });
    let r = w.call(Method::POST, "/Users", Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    assert_ne!(r.body["id"], "chosen-by-the-client");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_ne!(r.body["meta"]["created"], "2000-01-01T00:00:00Z");
    assert!(r.body.get("groups").is_none(), "groups is read-only: {}", r.body);
    let g = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.body["members"], json!([]));

    let mut put = body;
    put["id"] = json!(uuid::Uuid::now_v7().to_string());
    put["title"] = json!("Reader");
    let r = w.call(Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.id(), id, "the id in a PUT body is ignored");
    assert_eq!(r.body["title"], "Reader");
    assert!(r.body.get("groups").is_none());
}

// RFC 7644 §3.5.2: a PATCH that names a readOnly attribute as its target is a 400 mutability
// (unlike a body, where it is ignored, a path is an explicit request to change it).
#[tokio::test]
async fn patching_a_read_only_attribute_is_a_mutability_error() {
    let w = World::without_worker().await;
    let id = w.named("mut@acme.test").await;
    for p in ["id", "meta.created", "groups"] {
        let r = w
            .call(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(patch(json!([{"op": "replace", "path": p, "value": "x"}]))),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("mutability"));
    }
}

// RFC 7644 §3.3 leaves attributes outside the schemas to the service provider. This one ignores
// them (IdPs send custom attributes and extensions freely) and never stores or echoes them, so
// the response shows exactly what was kept. As a PATCH path, an unknown attribute names no
// target and is a 400 invalidPath.
#[tokio::test]
async fn unknown_attributes_are_ignored_and_not_stored() {
    let w = World::without_worker().await;
    let body = json!({
        "schemas": [USER_SCHEMA, "urn:example:params:scim:schemas:custom:2.0:User"],
        "userName": "unknown@acme.test",
        "shoeSize": 42,
        "name": {"givenName": "Ada", "nickname": "Countess"},
        "urn:example:params:scim:schemas:custom:2.0:User": {"badge": "A-1"},
        ENTERPRISE: {"department": "R&D", "favouriteColour": "teal"},
    });
    let r = w.call(Method::POST, "/Users", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let stored = w.get(&format!("/Users/{}", r.id())).await.body;
    for b in [&r.body, &stored] {
        assert!(b.get("shoeSize").is_none(), "{b}");
        assert_eq!(b["name"], json!({"givenName": "Ada"}));
        assert!(b.get("urn:example:params:scim:schemas:custom:2.0:User").is_none());
        assert_eq!(b[ENTERPRISE], json!({"department": "R&D"}));
        assert_eq!(b["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    }
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{}", r.id()),
            Some(patch(json!([{"op": "replace", "path": "shoeSize", "value": 43}]))),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidPath"));
}

// RFC 7643 §4.1.1: password is writeOnly, "returned" never.
#[tokio::test]
async fn a_password_is_accepted_and_never_returned() {
    let w = World::without_worker().await;
    let r = w
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": "pw@acme.test", "password": "s3cret-Pass!"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("password").is_none());
    let list = w.get("/Users?attributes=password,userName").await;
    assert!(list.body["Resources"][0].get("password").is_none());
    assert!(!list.body.to_string().contains("s3cret"));
}

// RFC 7643 §3: `schemas` is required and names the resource's core schema. Every IdP we replay
// sends it (docs/idps.md), so a body without it is refused, never guessed at: a User body sent
// to `/Groups` would otherwise be stored as a nameless group.
#[tokio::test]
async fn a_resource_without_its_core_schema_is_invalid_syntax() {
    let w = World::without_worker().await;
    let id = w.named("schemas@acme.test").await;
    let user = |schemas: Value| json!({"schemas": schemas, "userName": "s2@acme.test"});
    for body in [
        json!({"userName": "s2@acme.test"}),
        user(json!([])),
        user(json!([ENTERPRISE])),
        user(json!([GROUP_SCHEMA])),
        user(json!(["urn:scim:schemas:core:1.0"])),
    ] {
        let r = w.call(Method::POST, "/Users", Some(body.clone())).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
        assert!(
            r.body["detail"].as_str().unwrap().contains(USER_SCHEMA),
            "{}",
            r.body
        );
        let r = w.call(Method::PUT, &format!("/Users/{id}"), Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    }
    let r = w
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [USER_SCHEMA], "displayName": "G"})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    assert_eq!(w.get("/Groups?count=0").await.body["totalResults"], 0);
    // The URN is matched case-insensitively, like every URN.
    let r = w
        .call(
            Method::POST,
            "/Users",
            Some(user(json!([USER_SCHEMA.to_uppercase()]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

// RFC 7643 §2.4: a multi-valued attribute is a JSON array. A bare string (`"emails": "x"`)
// could be the value, the type or anything else and is refused; a single object (OneLogin sends
// `emails` so in a PATCH) can only mean a list of one and is taken as one.
#[tokio::test]
async fn a_multi_valued_attribute_as_a_string_is_refused_and_as_one_object_is_a_list_of_one() {
    let w = World::without_worker().await;
    let body =
        |emails: Value| json!({"schemas": [USER_SCHEMA], "userName": "multi@acme.test", "emails": emails});
    let r = w
        .call(Method::POST, "/Users", Some(body(json!("multi@acme.test"))))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    assert!(
        r.body["detail"].as_str().unwrap().contains("multi-valued"),
        "{}",
        r.body
    );
    let r = w
        .call(Method::POST, "/Users", Some(body(json!(["multi@acme.test"]))))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let r = w
        .call(
            Method::POST,
            "/Users",
            Some(body(json!({"value": "multi@acme.test", "type": "work"}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["emails"],
        json!([{"value": "multi@acme.test", "type": "work"}])
    );
    let path = format!("/Users/{}", r.id());
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(patch(
                json!([{"op": "add", "path": "phoneNumbers", "value": "+1 555 0100"}]),
            )),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
}

// RFC 7644 §3.5.2.2 makes a removed attribute unassigned, and an unassigned `active` means
// active here (RFC 7643 §4.1.1 leaves its meaning to the service provider): a `remove` would
// silently reactivate a deactivated user. It is a 400 mutability, and the user stays as it was.
// A PUT that omits `active` does not assert it (RFC 7644 §3.5.1) and keeps it.
#[tokio::test]
async fn active_cannot_be_removed_and_a_put_without_it_keeps_it() {
    let w = World::without_worker().await;
    let id = w.named("leaver@acme.test").await;
    let path = format!("/Users/{id}");
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        w.call(Method::PATCH, &path, Some(off)).await.status,
        StatusCode::OK
    );
    for ops in [
        json!([{"op": "remove", "path": "active"}]),
        json!([{"op": "Remove", "path": "active"}]),
        json!([{"op": "replace", "value": {"active": null}}]),
    ] {
        let r = w.call(Method::PATCH, &path, Some(patch(ops))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("mutability"));
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("replace it with false"),
            "{}",
            r.body
        );
    }
    let put = json!({"schemas": [USER_SCHEMA], "userName": "leaver@acme.test", "title": "Former"});
    let r = w.call(Method::PUT, &path, Some(put)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(w.get(&path).await.body["active"], false);
}
