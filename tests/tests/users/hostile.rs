//! Hostile input: every request of the corpus is answered with a 4xx SCIM error (never a 5xx,
//! never a dropped connection), and the server keeps serving afterwards.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::World;
use tests::urlencode;

fn bodies() -> Vec<Vec<u8>> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let mut v: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"42".to_vec(),
        b"\"userName\"".to_vec(),
        b"[]".to_vec(),
        b"{".to_vec(),
        b"{\"userName\": \"a\",}".to_vec(),
        vec![0xff, 0xfe, 0xfd],
        b"{\"userName\": \"\xff\xfe\"}".to_vec(),
        deep.into_bytes(),
        deep_obj.into_bytes(),
    ];
    for body in [
        json!({"userName": null}),
        json!({"userName": ["a"]}),
        json!({"userName": {"x": 1}}),
        json!({"userName": "x".repeat(100_000)}),
        json!({"userName": "a\u{0000}b"}),
        json!({"userName": "a\u{001b}[31mred"}),
        json!({"userName": "ok", "emails": "not-a-list"}),
        json!({"userName": "ok", "emails": [1, 2, 3]}),
        json!({"userName": "ok", "emails": (0..10_000).map(|i| json!({"value": format!("{i}@x")})).collect::<Vec<_>>()}),
        json!({"userName": "ok", "name": "flat"}),
        json!({"userName": "ok", "active": "yes"}),
        json!({"userName": "ok", "schemas": "urn:x"}),
        json!({"userName": "ok", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "flat"}),
        json!({"userName": "ok", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": 7}}),
        json!({"userName": "' or 1=1; drop table scim.users; --"}),
    ] {
        v.push(body.to_string().into_bytes());
    }
    v
}

#[tokio::test]
async fn hostile_bodies_get_4xx_scim_errors_and_the_server_survives() {
    let w = World::new().await;
    let created = w
        .post_user(tests::okta_user("target@acme.test", "T", "Arget"))
        .await
        .id();
    for (i, body) in bodies().into_iter().enumerate() {
        for (method, path) in [
            (Method::POST, "/scim/v2/Users".to_owned()),
            (Method::PUT, format!("/scim/v2/Users/{created}")),
            (Method::PATCH, format!("/scim/v2/Users/{created}")),
        ] {
            let resp = w
                .env
                .http
                .request(method.clone(), format!("{}{path}", w.api.base))
                .bearer_auth(&w.token)
                .header("Content-Type", "application/scim+json")
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("corpus #{i} {method}: connection failed: {e}"));
            let status = resp.status();
            // The SQL-looking userName is a legal userName: created (201) or conflicting (409).
            assert!(
                status.is_client_error() || status == StatusCode::CREATED || status == StatusCode::OK,
                "corpus #{i} {method} {path}: {status}"
            );
            if status.is_client_error() {
                let ct = resp
                    .headers()
                    .get("content-type")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert!(ct.starts_with("application/scim+json"), "corpus #{i}: {ct}");
            }
        }
    }
    let users = w.get("/Users").await;
    assert_eq!(users.status, StatusCode::OK, "still serving");
}

#[tokio::test]
async fn hostile_filters_and_patch_paths_get_400s() {
    let w = World::new().await;
    let id = w
        .post_user(tests::okta_user("f@acme.test", "F", "Ilter"))
        .await
        .id();
    let long = "a".repeat(10_000);
    let nested = format!("{}userName eq \"a\"{}", "(".repeat(10_000), ")".repeat(10_000));
    for f in [
        "userName eq",
        "userName eq \"unterminated",
        "userName zz \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" and",
        "emails[type eq \"work\"",
        "\u{0}",
        "userName eq \"a\"; drop table scim.users",
        long.as_str(),
        nested.as_str(),
        "nosuchattr eq \"x\"",
        "urn:bogus:Thing:attr eq \"x\"",
    ] {
        let r = w.get(&format!("/Users?filter={}", urlencode(f))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "filter {:.60}: {}", f, r.body);
        assert_eq!(r.body["scimType"], "invalidFilter", "filter {:.60}", f);
    }
    // Odd but valid: SQL-looking strings are just values.
    let r = w
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"x' or '1'='1\"")
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 0);
    for path in [
        "",
        "emails[",
        "emails[type eq \"work\"].",
        "id",
        "meta.created",
        "nosuch",
        "name..givenName",
        "urn:bogus:x",
    ] {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": path, "value": "x"}]});
        let r = w.call(Method::PATCH, &format!("/Users/{id}"), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "path {path:?}: {}", r.body);
    }
    let unicode = w
        .post_user(tests::okta_user("Ünïcødé.用户@例え.テスト", "Ü", "Ñ"))
        .await;
    assert_eq!(unicode.status, StatusCode::CREATED, "{}", unicode.body);
}
