use reqwest::StatusCode;
use serde_json::json;
use tests::okta_user;
use tests::urn::USER_SCHEMA;

use crate::World;

async fn raw(w: &World, content_type: &str, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let resp = w
        .env
        .http
        .post(format!("{}/scim/v2/Users", w.api.base))
        .bearer_auth(&w.token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(ct.starts_with("application/scim+json"), "error content type {ct}");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let w = World::new().await;
    let (status, body) = raw(&w, "application/scim+json", b"{\"userName\": ".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidSyntax");
    assert_eq!(body["status"], "400");
}

#[tokio::test]
async fn wrong_types_and_missing_user_names_are_400_invalid_value() {
    let w = World::new().await;
    for bad in [
        json!({"schemas": [USER_SCHEMA], "userName": 42}),
        json!({"schemas": [USER_SCHEMA], "name": {"givenName": "x"}}),
        json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "maybe"}),
    ] {
        let r = w.post_user(bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.body["scimType"], "invalidValue", "{bad}");
        assert!(
            r.body["detail"].as_str().unwrap().len() > 10,
            "the detail tells the admin what to fix"
        );
    }
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let w = World::new().await;
    let mut big = okta_user("big@acme.test", "B", "Ig");
    big["displayName"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, body) = raw(&w, "application/scim+json", big.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["status"], "413");
}

/// An answer sent before the body was read says `Connection: close`, so a client does not
/// reuse a connection the server is closing (its next request would fail with a broken pipe);
/// an answer after reading the body keeps the connection.
#[tokio::test]
async fn answers_before_the_body_was_read_close_the_connection() {
    let w = World::new().await;
    let send = |token: &str, body: String| {
        w.env
            .http
            .post(format!("{}/scim/v2/Users", w.api.base))
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(body)
            .send()
    };
    let mut big = okta_user("big@acme.test", "B", "Ig");
    big["displayName"] = json!("x".repeat(2 * 1024 * 1024));
    let connection = |r: &reqwest::Response| {
        r.headers()
            .get("connection")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let too_large = send(&w.token, big.to_string()).await.unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(connection(&too_large).as_deref(), Some("close"));
    let unauthenticated = send("scimr_wrong", okta_user("a@acme.test", "A", "B").to_string())
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(connection(&unauthenticated).as_deref(), Some("close"));
    let read = send(&w.token, json!({"userName": ""}).to_string()).await.unwrap();
    assert_eq!(read.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        connection(&read),
        None,
        "the body was read: the connection stays open"
    );
}

/// A client still writing a body the api has already refused reads the answer: the api's close
/// lingers (it stops writing and discards what still comes) instead of resetting the connection
/// with the body unread, which would break the client's pipe before it reads the 413.
#[tokio::test]
async fn a_client_still_writing_a_refused_body_reads_the_answer() {
    let w = World::new().await;
    let addr = w.api.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = tests::post_after_an_early_answer(&mut tcp, addr, &w.token, 4 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
}

#[tokio::test]
async fn plain_application_json_is_accepted_and_other_types_refused() {
    let w = World::new().await;
    let (status, _) = raw(
        &w,
        "application/json; charset=utf-8",
        okta_user("json@acme.test", "J", "S").to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = raw(&w, "text/plain", b"userName=x".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["status"], "415");
}

#[tokio::test]
async fn unknown_endpoints_answer_a_scim_404() {
    let w = World::new().await;
    let r = w.get("/Printers").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let w = World::new().await;
    let get = |p: &str| w.env.http.get(format!("{}{p}", w.api.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["postgres"], "up");
    assert_eq!(ready["rabbitmq"], "up");
    w.get("/Users").await;
    let metrics = w.api.scrape(&w.env.http).await;
    assert!(metrics.contains("scim_http_requests_total"), "{metrics}");
    // Never on the SCIM listener: it needs no token and tells how the service is used.
    assert_eq!(get("/metrics").await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_exits_cleanly_on_sigterm() {
    let mut w = World::new().await;
    let r = w.post_user(okta_user("bye@acme.test", "B", "Ye")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let status = w.api.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(w.api.log().contains("shutdown requested"));
}

#[tokio::test]
async fn a_tenant_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let w = World::new().await;
    let (_, other) = w.env.create_tenant("Quiet");
    let limited = w
        .env
        .spawn_api_with(&[("SCIM_TENANT_RATE_LIMIT", "1"), ("SCIM_TENANT_BURST", "3")])
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = w
            .env
            .request(
                &limited,
                reqwest::Method::GET,
                "/scim/v2/Users",
                Some(&w.token),
                None,
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.body["status"], "429");
            let after: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
            assert!((1..=2).contains(&after), "{after}");
        }
        statuses.push(r.status.as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let quiet = w
        .env
        .request(
            &limited,
            reqwest::Method::GET,
            "/scim/v2/Users",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(quiet.status, StatusCode::OK, "another tenant has its own budget");
}

/// Names an admin cannot tell from `alice@acme.test`: whitespace around it, zero-width and
/// other invisible format characters, bidirectional controls, control characters.
const LOOK_ALIKES: &[&str] = &[
    "alice@acme.test ",
    " alice@acme.test",
    "alice@acme.test\u{a0}",
    "alice@acme.test\u{200B}",
    "al\u{200C}ice@acme.test",
    "al\u{200D}ice@acme.test",
    "alice\u{2060}@acme.test",
    "\u{FEFF}alice@acme.test",
    "alice@acme.test\u{200E}",
    "\u{200F}alice@acme.test",
    "alice\u{202A}@acme.test",
    "alice\u{202E}@acme.test",
    "alice\u{2066}@acme.test\u{2069}",
    "alice@acme.test\t",
    "alice\u{85}@acme.test",
];

#[tokio::test]
async fn user_names_that_differ_only_by_invisible_or_surrounding_characters_are_refused() {
    let w = World::new().await;
    let alice = w.post_user(okta_user("alice@acme.test", "Al", "Ice")).await;
    assert_eq!(alice.status, StatusCode::CREATED, "{}", alice.body);
    let path = format!("/Users/{}", alice.id());
    for name in LOOK_ALIKES {
        let expect_refused = |what: &str, r: &tests::Response| {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what} {name:?}: {}", r.body);
            assert_eq!(r.body["scimType"], "invalidValue", "{what} {name:?}");
            let detail = r.body["detail"].as_str().unwrap();
            assert!(detail.contains("'userName'"), "{what} {name:?}: {detail}");
        };
        // The email stays valid, so that only the userName can be what is refused.
        let mut body = okta_user(name, "Al", "Ice");
        body["emails"] = json!([{"value": "alice@acme.test", "type": "work"}]);
        let r = w.post_user(body.clone()).await;
        expect_refused("POST", &r);
        let r = w.call(reqwest::Method::PUT, &path, Some(body)).await;
        expect_refused("PUT", &r);
        for op in [
            json!({"op": "replace", "path": "userName", "value": name}),
            json!({"op": "replace", "value": {"userName": name}}),
        ] {
            let patch = json!({"schemas": [tests::urn::PATCH_OP], "Operations": [op]});
            let r = w.call(reqwest::Method::PATCH, &path, Some(patch)).await;
            expect_refused("PATCH", &r);
        }
        // A filter with such a name is not refused: it simply finds nobody.
        let q = format!(
            "/Users?filter={}",
            tests::urlencode(&format!("userName eq {}", json!(name)))
        );
        let r = w.get(&q).await;
        assert_eq!(r.status, StatusCode::OK, "{name:?}: {}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{name:?}");
    }
    let all = w.get("/Users").await;
    assert_eq!(all.body["totalResults"], 1, "only alice: {}", all.body);
    assert_eq!(w.get(&path).await.body["userName"], "alice@acme.test");
    // Emoji joined by U+200D are letters of a kind, not a trick.
    let r = w
        .post_user(okta_user("👩\u{200D}💻.dev@acme.test", "De", "V"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn a_user_stored_before_the_user_name_rule_can_still_be_deactivated_and_renamed() {
    let w = World::new().await;
    let r = w.post_user(okta_user("legacy@acme.test", "Le", "Gacy")).await;
    let id = r.id();
    // As an earlier version stored it: with a trailing space.
    let db = w.env.db().await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!(
            "update scim.users set user_name = 'legacy@acme.test ', user_name_key = 'legacy@acme.test ',
                    resource = jsonb_set(resource, '{{userName}}', '\"legacy@acme.test \"')
             where id = '{id}'"
        ),
    )
    .await
    .unwrap();
    let path = format!("/Users/{id}");
    let deactivate = json!({"schemas": [tests::urn::PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": false}}]});
    let r = w.call(reqwest::Method::PATCH, &path, Some(deactivate)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let mut put = okta_user("legacy@acme.test ", "Le", "Gacy");
    put["active"] = json!(false);
    put["title"] = json!("Former");
    let r = w.call(reqwest::Method::PUT, &path, Some(put)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an unchanged legacy name passes: {}",
        r.body
    );
    let fix = json!({"schemas": [tests::urn::PATCH_OP], "Operations": [
        {"op": "replace", "path": "userName", "value": "legacy@acme.test"}]});
    let r = w.call(reqwest::Method::PATCH, &path, Some(fix)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["userName"], "legacy@acme.test");
}
