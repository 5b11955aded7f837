//! SCIM tokens issued from the admin page or API are shown once, in the response that issued
//! them, and never again; only their SHA-256 is stored; a new one stops the old one.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::{AdminWorld, As, Body};

/// The token in a "shown once" page.
fn token_in(html: &str) -> String {
    let marker = r#"id="token" class="secret" readonly value=""#;
    let start = html.find(marker).expect("the page shows a token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Rows of `scim.api_tokens` whose hash is the SHA-256 (computed by Postgres) of `token`, and
/// rows that hold the token's text anywhere.
async fn stored(db: &DatabaseConnection, token: &str) -> (i64, i64) {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select
                (select count(*) from scim.api_tokens where token_hash = sha256(convert_to($1, 'UTF8'))) as by_hash,
                (select count(*) from scim.api_tokens t where t::text like '%' || $1 || '%') as in_clear",
            [token.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "by_hash").unwrap(),
        row.try_get("", "in_clear").unwrap(),
    )
}

#[tokio::test]
async fn a_token_generated_on_the_page_is_shown_once_and_stored_only_as_its_hash() {
    let w = AdminWorld::new().await;
    let s = w.sign_in().await;
    let created = w
        .send(
            Method::POST,
            "/admin/tenants",
            As::Cookie(&s),
            Body::Form(&[("name", "Acme"), ("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let first = token_in(&created.text);
    assert!(first.starts_with("scimr_"));
    let list = w.api(Method::GET, "/admin/api/tenants", None).await;
    let tenant = list["tenants"][0]["id"].as_str().unwrap().to_owned();

    let generated = w
        .send(
            Method::POST,
            &format!("/admin/tenants/{tenant}/token"),
            As::Cookie(&s),
            Body::Form(&[("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(generated.status, StatusCode::OK);
    let second = token_in(&generated.text);
    assert_ne!(first, second);
    assert_eq!(
        w.scim_status(&first).await,
        StatusCode::UNAUTHORIZED,
        "the old token stops"
    );
    assert_eq!(w.scim_status(&second).await, StatusCode::OK);

    // No page or API answer shows either token again.
    let t = format!("/admin/api/tenants/{tenant}");
    for path in [
        "/admin".to_owned(),
        format!("/admin/tenants/{tenant}"),
        "/admin/api/tenants".to_owned(),
        t.clone(),
        format!("{t}/activity"),
        format!("{t}/sync"),
    ] {
        let r = w.get(&path, As::Cookie(&s)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        for token in [&first, &second] {
            assert!(!r.text.contains(token.as_str()), "{path} shows a token again");
            assert!(!r.text.contains(&token[6..]), "{path} shows part of a token");
        }
    }
    let db = w.env.db().await;
    assert_eq!(
        stored(&db, &second).await,
        (1, 0),
        "the live token: its hash only"
    );
    assert_eq!(
        stored(&db, &first).await,
        (1, 0),
        "the revoked token: its hash only"
    );
}

#[tokio::test]
async fn the_api_rotates_and_revokes_tokens_like_the_cli() {
    let w = AdminWorld::new().await;
    let (tenant, first) = w.tenant("Acme").await;
    assert_eq!(w.scim_status(&first).await, StatusCode::OK);
    let path = format!("/admin/api/tenants/{tenant}/token");
    let rotated = w.api(Method::POST, &path, None).await;
    assert_eq!(rotated["tenant_id"], tenant.to_string());
    let second = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(w.scim_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(w.scim_status(&second).await, StatusCode::OK);
    let detail = w
        .api(Method::GET, &format!("/admin/api/tenants/{tenant}"), None)
        .await;
    assert!(detail["tenant"]["token_issued_at"].is_string());
    assert!(!detail.to_string().contains(&second));

    let revoked = w.api(Method::DELETE, &path, None).await;
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(w.scim_status(&second).await, StatusCode::UNAUTHORIZED);
    let detail = w
        .api(Method::GET, &format!("/admin/api/tenants/{tenant}"), None)
        .await;
    assert!(detail["tenant"]["token_issued_at"].is_null());
    let page = w.sign_in().await;
    let html = w
        .get(&format!("/admin/tenants/{tenant}"), As::Cookie(&page))
        .await;
    assert!(
        html.text.contains("Generate token"),
        "no live token: a plain Generate button"
    );
}

#[tokio::test]
async fn unknown_tenants_are_404s_and_empty_names_400s() {
    let w = AdminWorld::new().await;
    let unknown = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, format!("/admin/api/tenants/{unknown}")),
        (Method::POST, format!("/admin/api/tenants/{unknown}/token")),
        (Method::GET, format!("/admin/api/tenants/{unknown}/activity")),
        (Method::GET, "/admin/api/tenants/not-a-uuid".to_owned()),
    ] {
        let r = w
            .send(method.clone(), &path, As::Bearer(crate::ADMIN_KEY), Body::None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.text);
    }
    let r = w
        .send(
            Method::POST,
            "/admin/api/tenants",
            As::Bearer(crate::ADMIN_KEY),
            Body::Json(&serde_json::json!({"name": "  "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "bad_request");
}

#[tokio::test]
async fn a_tenant_name_with_a_nul_or_other_control_character_is_a_400_not_a_500() {
    let w = AdminWorld::new().await;
    for name in ["Acme\u{0}", "\u{0}", "Acme\u{7}Corp", "Acme\nCorp"] {
        let r = w
            .send(
                Method::POST,
                "/admin/api/tenants",
                As::Bearer(crate::ADMIN_KEY),
                Body::Json(&serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}: {}", r.text);
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("control characters")
        );
    }
    // The form of the admin page goes the same way.
    let s = w.sign_in().await;
    let r = w
        .send(
            Method::POST,
            "/admin/tenants",
            As::Cookie(&s),
            Body::Form(&[("name", "Acme\u{0}"), ("csrf", &s.csrf)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let list = w.api(Method::GET, "/admin/api/tenants", None).await;
    assert_eq!(
        list["tenants"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}
