//! Every admin route needs the admin key, as a bearer token or a signed-in session; the admin
//! page does not exist without ADMIN_TOKEN.

use reqwest::{Method, StatusCode};
use tests::TestEnv;
use uuid::Uuid;

use crate::{ADMIN_KEY, AdminWorld, As, Body, Session, client, send, set_cookies};

/// Every guarded route, with a real tenant id in it.
fn routes(tenant: Uuid) -> Vec<(Method, String)> {
    let t = format!("/admin/api/tenants/{tenant}");
    let p = format!("/admin/tenants/{tenant}");
    vec![
        (Method::GET, "/admin".into()),
        (Method::POST, "/admin/logout".into()),
        (Method::POST, "/admin/tenants".into()),
        (Method::GET, p.clone()),
        (Method::POST, format!("{p}/token")),
        (Method::POST, format!("{p}/token/revoke")),
        (Method::POST, format!("{p}/dead-letters/some-letter/retry")),
        (Method::GET, "/admin/api/tenants".into()),
        (Method::POST, "/admin/api/tenants".into()),
        (Method::GET, t.clone()),
        (Method::POST, format!("{t}/token")),
        (Method::DELETE, format!("{t}/token")),
        (Method::GET, format!("{t}/activity")),
        (Method::GET, format!("{t}/sync")),
        (Method::GET, format!("{t}/dead-letters")),
        (Method::POST, format!("{t}/dead-letters/some-letter/retry")),
        (Method::GET, format!("{t}/event-streams")),
        (Method::POST, format!("{t}/event-streams")),
        (Method::DELETE, format!("{t}/event-streams/{tenant}")),
        (Method::POST, format!("{t}/event-streams/{tenant}/replay")),
        (Method::PUT, format!("{t}/mapping")),
        (Method::GET, format!("{t}/mapping")),
        (Method::GET, format!("{t}/schemas")),
        (Method::PUT, format!("{t}/schemas/urn:acme:hr")),
        (Method::GET, format!("{t}/schemas/urn:acme:hr")),
        (Method::DELETE, format!("{t}/schemas/urn:acme:hr")),
    ]
}

#[tokio::test]
async fn every_admin_route_refuses_callers_without_the_admin_key() {
    // Two wrong keys per route: far more than the throttle lets through (throttle.rs tests it).
    let w = AdminWorld::with(&[
        ("ADMIN_MAX_FAILURES_PER_CLIENT", "0"),
        ("ADMIN_MAX_FAILURES_TOTAL", "0"),
    ])
    .await;
    let (tenant, token) = w.tenant("Acme").await;
    let forged = Session {
        cookie: format!("scim_admin={}", "ab".repeat(32)),
        csrf: String::new(),
    };
    for (method, path) in routes(tenant) {
        let api = path.starts_with("/admin/api/");
        for who in [As::Nobody, As::Cookie(&forged)] {
            let r = w.send(method.clone(), &path, who, Body::None).await;
            if api {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", r.text);
                assert_eq!(r.json()["error"], "unauthenticated");
                assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
            } else {
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{method} {path}: {}", r.text);
                assert_eq!(r.header("location"), Some("/admin/login"));
            }
        }
        // A wrong key, or a tenant's SCIM token, is refused outright.
        for wrong in ["test-admin-key-7f3a9c2e51d04b69", token.as_str()] {
            let r = w.send(method.clone(), &path, As::Bearer(wrong), Body::None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    // Nothing was changed along the way: the tenant's token still works.
    assert_eq!(w.scim_status(&token).await, StatusCode::OK);
    let list = w.api(Method::GET, "/admin/api/tenants", None).await;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_sign_in_page_and_the_openapi_document_are_open() {
    let w = AdminWorld::new().await;
    let login = w.get("/admin/login", As::Nobody).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text.contains(r#"name="token""#));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert!(
        login
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let doc = w.get("/admin/api/openapi.json", As::Nobody).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json()["paths"]["/admin/api/tenants"].is_object());
}

#[tokio::test]
async fn a_wrong_admin_key_opens_no_session() {
    let w = AdminWorld::new().await;
    for wrong in [
        "test-admin-key-7f3a9c2e51d04b6",
        "",
        "TEST-ADMIN-KEY-7F3A9C2E51D04B68",
    ] {
        let r = w
            .send(
                Method::POST,
                "/admin/login",
                As::Nobody,
                Body::Form(&[("token", wrong)]),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(set_cookies(&r).is_empty(), "no cookie for a wrong key");
        assert!(r.text.contains("not the admin token"));
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict_and_ends_at_sign_out() {
    let w = AdminWorld::new().await;
    let r = w
        .send(
            Method::POST,
            "/admin/login",
            As::Nobody,
            Body::Form(&[("token", ADMIN_KEY)]),
        )
        .await;
    let cookie = &set_cookies(&r)[0];
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/admin"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");

    let s = w.sign_in().await;
    assert_eq!(w.get("/admin", As::Cookie(&s)).await.status, StatusCode::OK);
    let out = w
        .send(
            Method::POST,
            "/admin/logout",
            As::Cookie(&s),
            Body::Form(&[("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(set_cookies(&out)[0].contains("Max-Age=0"));
    let after = w.get("/admin", As::Cookie(&s)).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
    let db = w.env.db().await;
    let open: i64 = tests::scalar(&db, "select count(*) as n from scim.admin_sessions", "n").await;
    assert_eq!(open, 1, "only the first session is left");
    let stored: i64 = tests::scalar(
        &db,
        &format!(
            "select count(*) as n from scim.admin_sessions where id_hash = sha256('{}'::bytea)",
            s.cookie.trim_start_matches("scim_admin=")
        ),
        "n",
    )
    .await;
    assert_eq!(stored, 0, "sessions are stored by hash and deleted at sign-out");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let w = AdminWorld::with(&[("SCIM_PUBLIC_URL", "https://scim.example.com")]).await;
    let r = w
        .send(
            Method::POST,
            "/admin/login",
            As::Nobody,
            Body::Form(&[("token", ADMIN_KEY)]),
        )
        .await;
    assert!(set_cookies(&r)[0].ends_with("; Secure"), "{:?}", set_cookies(&r));
}

#[tokio::test]
async fn changing_the_admin_key_ends_every_session() {
    let w = AdminWorld::new().await;
    let s = w.sign_in().await;
    let other_key = "another-admin-key-0a1b2c3d4e5f";
    let api = w.env.spawn_api_with(&[("ADMIN_TOKEN", other_key)]).await;
    let url = format!("{}/admin", api.base);
    let r = send(&client(), Method::GET, &url, As::Cookie(&s), Body::None).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a session of the old key is refused"
    );
    let r = send(&client(), Method::GET, &url, As::Cookie(&s), Body::None).await;
    assert_eq!(r.header("location"), Some("/admin/login"));
    // The first api, still on the old key, keeps the session.
    assert_eq!(w.get("/admin", As::Cookie(&s)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_admin_token_the_admin_page_does_not_exist() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (tenant, token) = env.create_tenant("Acme");
    let http = client();
    let mut paths: Vec<(Method, String)> = routes(tenant);
    paths.push((Method::GET, "/admin/login".into()));
    paths.push((Method::POST, "/admin/login".into()));
    paths.push((Method::GET, "/admin/api/openapi.json".into()));
    paths.push((Method::GET, "/admin/assets/admin.js".into()));
    for (method, path) in paths {
        let url = format!("{}{path}", api.base);
        for who in [As::Nobody, As::Bearer(ADMIN_KEY)] {
            let r = send(&http, method.clone(), &url, who, Body::None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
    // An empty ADMIN_TOKEN (what `${ADMIN_TOKEN:-}` gives in a compose file) is unset too.
    let empty = env.spawn_api_with(&[("ADMIN_TOKEN", "")]).await;
    let r = send(
        &http,
        Method::GET,
        &format!("{}/admin/login", empty.base),
        As::Nobody,
        Body::None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The SCIM side is unaffected.
    let r = env
        .request(&api, Method::GET, "/scim/v2/Users", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_token_that_is_too_short_stops_the_api_from_starting() {
    let env = TestEnv::new().await;
    let out = std::process::Command::new(tests::bin_dir().join("scim-api"))
        .env_clear()
        .envs(env.env())
        .env("ADMIN_TOKEN", "tiny-key-x9")
        .env("SCIM_BIND_ADDR", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 16 characters"), "{err}");
    assert!(!err.contains("tiny-key-x9"), "the value is not repeated: {err}");
}

/// Starts `scim-api serve` with `vars` and expects it to refuse to start; returns its stderr.
/// An api that starts anyway fails the test after a while instead of hanging it.
pub fn refused_start(env: &TestEnv, vars: &[(&str, &str)]) -> String {
    use std::io::Read;
    let mut child = std::process::Command::new(tests::bin_dir().join("scim-api"))
        .env_clear()
        .envs(env.env())
        .envs(vars.iter().copied())
        .env("SCIM_BIND_ADDR", "127.0.0.1:0")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scim-api started with {vars:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "{err}");
    err
}

#[tokio::test]
async fn an_admin_token_that_is_easy_to_guess_stops_the_api_from_starting() {
    let env = TestEnv::new().await;
    for weak in [
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "passwordpasswordpasswordpassword",
        "0123456789abcdef0123456789abcdef",
    ] {
        let err = refused_start(&env, &[("ADMIN_TOKEN", weak)]);
        assert!(err.contains("too easy to guess"), "{err}");
        assert!(
            err.contains("openssl rand -hex 32"),
            "says how to make a good one: {err}"
        );
        assert!(!err.contains(weak), "the value is not repeated: {err}");
    }
}

#[tokio::test]
async fn the_admin_key_can_come_from_a_file_whose_trailing_newline_is_ignored() {
    let env = TestEnv::new().await;
    let path = env.log_path("admin-key");
    std::fs::write(&path, format!("{ADMIN_KEY}\n")).unwrap();
    let api = env
        .spawn_api_with(&[("ADMIN_TOKEN_FILE", path.to_str().unwrap())])
        .await;
    let url = format!("{}/admin/login", api.base);
    let r = send(
        &client(),
        Method::POST,
        &url,
        As::Nobody,
        Body::Form(&[("token", ADMIN_KEY)]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = send(
        &client(),
        Method::GET,
        &format!("{}/admin/api/tenants", api.base),
        As::Bearer(ADMIN_KEY),
        Body::None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_admin_token_file_that_cannot_be_used_stops_the_api_from_starting() {
    let env = TestEnv::new().await;
    let missing = env.log_path("no-such-admin-key");
    let err = refused_start(&env, &[("ADMIN_TOKEN_FILE", missing.to_str().unwrap())]);
    assert!(
        err.contains("ADMIN_TOKEN_FILE")
            && err.contains("cannot be read")
            && err.contains(missing.to_str().unwrap()),
        "{err}"
    );

    let empty = env.log_path("empty-admin-key");
    std::fs::write(&empty, "\n").unwrap();
    let err = refused_start(&env, &[("ADMIN_TOKEN_FILE", empty.to_str().unwrap())]);
    assert!(err.contains("is empty"), "{err}");

    // A weak key is as weak in a file.
    let weak = env.log_path("weak-admin-key");
    std::fs::write(&weak, "passwordpasswordpassword\n").unwrap();
    let err = refused_start(&env, &[("ADMIN_TOKEN_FILE", weak.to_str().unwrap())]);
    assert!(
        err.contains("too easy to guess") && !err.contains("passwordpassword"),
        "{err}"
    );

    // Two sources would leave it unclear which key is in force.
    let good = env.log_path("good-admin-key");
    std::fs::write(&good, ADMIN_KEY).unwrap();
    let err = refused_start(
        &env,
        &[
            ("ADMIN_TOKEN_FILE", good.to_str().unwrap()),
            ("ADMIN_TOKEN", ADMIN_KEY),
        ],
    );
    assert!(err.contains("both set"), "{err}");
    for p in [empty, weak, good] {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn the_admin_key_cannot_be_given_on_the_command_line() {
    // A flag would show the key to every user of the host in `ps`.
    let out = std::process::Command::new(tests::bin_dir().join("scim-api"))
        .env_clear()
        .args(["serve", "--admin-token", ADMIN_KEY, "--help"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument '--admin-token'"), "{err}");
    let help = std::process::Command::new(tests::bin_dir().join("scim-api"))
        .env_clear()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--admin-token-file <PATH>"), "{help}");
    assert!(!help.contains("--admin-token <"), "{help}");
    assert!(
        help.contains("ADMIN_TOKEN"),
        "the variable is still documented: {help}"
    );
}
