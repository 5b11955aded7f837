//! A signed-in session changes nothing without its CSRF token; bearer callers need none.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{ADMIN_KEY, AdminWorld, As, Body};

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let w = AdminWorld::new().await;
    let s = w.sign_in().await;
    let (tenant, token) = w.tenant("Acme").await;
    let other = w.sign_in().await;
    assert_ne!(s.csrf, other.csrf, "each session has its own token");

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/admin/tenants".into(), vec![("name", "Evil Corp")]),
        (format!("/admin/tenants/{tenant}/token"), vec![]),
        (format!("/admin/tenants/{tenant}/token/revoke"), vec![]),
        (format!("/admin/tenants/{tenant}/dead-letters/x/retry"), vec![]),
        ("/admin/logout".into(), vec![]),
    ];
    for (path, fields) in &forms {
        for csrf in [None, Some("0".repeat(64)), Some(other.csrf.clone())] {
            let mut body = fields.clone();
            if let Some(c) = &csrf {
                body.push(("csrf", c));
            }
            let r = w
                .send(Method::POST, path, As::Cookie(&s), Body::Form(&body))
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{path} with {csrf:?}: {}",
                r.text
            );
            assert!(r.text.contains("CSRF"), "{}", r.text);
        }
    }
    // Nothing happened: one tenant, its token works, the session is still open.
    let list = w.api(Method::GET, "/admin/api/tenants", None).await;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(w.scim_status(&token).await, StatusCode::OK);
    assert_eq!(w.get("/admin", As::Cookie(&s)).await.status, StatusCode::OK);

    // With the right token the same form works.
    let r = w
        .send(
            Method::POST,
            "/admin/tenants",
            As::Cookie(&s),
            Body::Form(&[("name", "Globex"), ("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = w.api(Method::GET, "/admin/api/tenants", None).await;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn json_calls_of_a_session_need_the_csrf_header_and_bearer_calls_do_not() {
    let w = AdminWorld::new().await;
    let s = w.sign_in().await;
    let body = json!({"name": "Acme"});
    let post = |who, csrf: Option<&str>| {
        let mut req = w
            .http
            .post(w.url("/admin/api/tenants"))
            .header("content-type", "application/json")
            .body(body.to_string());
        match who {
            As::Cookie(s) => req = req.header("cookie", &s.cookie),
            As::Bearer(t) => req = req.bearer_auth(t),
            As::Nobody => {}
        }
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let r = post(As::Cookie(&s), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(As::Cookie(&s), Some("wrong")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(As::Cookie(&s), Some(&s.csrf)).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(As::Bearer(ADMIN_KEY), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Reads need no CSRF token.
    let r = w.get("/admin/api/tenants", As::Cookie(&s)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["tenants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_copy_of_the_sessions_table_gives_no_working_csrf_token() {
    let w = AdminWorld::new().await;
    let s = w.sign_in().await;
    let db = w.env.db().await;
    // No column of any session row holds the token, in any form a reader could send back.
    let exposed: i64 = tests::scalar(
        &db,
        &format!(
            "select count(*) as n from scim.admin_sessions s where position('{}' in s::text) > 0",
            s.csrf
        ),
        "n",
    )
    .await;
    assert_eq!(exposed, 0, "the CSRF token is stored in the clear");
    // Only its SHA-256 is there...
    let hashed: i64 = tests::scalar(
        &db,
        &format!(
            "select count(*) as n from scim.admin_sessions where csrf_hash = sha256('{}'::bytea)",
            s.csrf
        ),
        "n",
    )
    .await;
    assert_eq!(hashed, 1);
    // ...and what is stored does not pass as a token.
    let stored: String = tests::scalar(
        &db,
        "select encode(csrf_hash, 'hex') as h from scim.admin_sessions",
        "h",
    )
    .await;
    let r = w
        .send(
            Method::POST,
            "/admin/tenants",
            As::Cookie(&s),
            Body::Form(&[("name", "Evil Corp"), ("csrf", &stored)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // The real token still works, and the page shows it on every request.
    let page = w.get("/admin", As::Cookie(&s)).await;
    assert_eq!(crate::hidden_csrf(&page.text).as_deref(), Some(s.csrf.as_str()));
    let r = w
        .send(
            Method::POST,
            "/admin/tenants",
            As::Cookie(&s),
            Body::Form(&[("name", "Acme"), ("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
