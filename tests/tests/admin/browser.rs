//! The operator's whole flow in headless Chromium (Debian's `chromium` driven through
//! `chromedriver`): sign in, create a tenant, generate a token and read it off the page, use it
//! for a real SCIM request, see the request in the activity table, watch a change get
//! dead-lettered by the product database, fix the cause, press Retry, and see the change applied.
//! Screenshots go to `target/screenshots/admin-*.png`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use tests::webdriver::{self, Browser};
use tests::{EVENTUALLY, okta_user};

use crate::dead_letters::{BLOCK, UNBLOCK, product_ready};
use crate::{ADMIN_KEY, AdminWorld};

fn screenshots_dir() -> PathBuf {
    let dir = tests::bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(tests::bin_dir)
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(b: &Browser, name: &str) {
    let path = screenshots_dir().join(format!("admin-{name}.png"));
    b.screenshot(&path).await;
    eprintln!("screenshot: {}", path.display());
}

/// Reloads `url` until its HTML satisfies `check`.
async fn reload_until(b: &Browser, url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        b.goto(url).await;
        let html = b.source().await;
        if check(&html) {
            return html;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the page to show {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_operator_provisions_a_tenant_and_retries_a_dead_letter_in_the_browser() {
    if !webdriver::available() {
        eprintln!(
            "SKIPPED: {} or {} is missing; install Debian's chromium and chromium-driver (scripts/test does)",
            webdriver::CHROMIUM,
            webdriver::CHROMEDRIVER
        );
        return;
    }
    let w = AdminWorld::new().await;
    let _worker = w.env.spawn_worker();
    let db = w.env.db().await;
    product_ready(&db).await;
    let b = Browser::start().await;

    // Sign in.
    b.goto(&w.url("/admin")).await;
    b.find("#admin-token").await;
    assert!(
        b.current_url().await.ends_with("/admin/login"),
        "unsigned visitors land on the sign-in page"
    );
    screenshot(&b, "01-sign-in").await;
    b.type_into("#admin-token", ADMIN_KEY).await;
    b.click("#sign-in").await;

    // Create a tenant: its first token is shown once.
    b.type_into("#tenant-name", "Acme Browser Test").await;
    b.click("#create-tenant").await;
    let first = b.value("#token").await;
    assert!(first.starts_with("scimr_"), "{first}");
    screenshot(&b, "02-tenant-created").await;
    b.click("#back-to-tenant").await;

    // Generate a new token (confirming that the old one stops) and read it off the page.
    b.find("#provisioning").await;
    let tenant_url = b.current_url().await;
    let tenant = b.text("#tenant-id").await;
    assert_eq!(b.value("#scim-base-url").await, w.url("/scim/v2"));
    b.click("#generate-token").await;
    b.accept_dialog().await;
    let token = b.value("#token").await;
    assert!(token.starts_with("scimr_") && token != first);
    b.find("#copy-token").await;
    screenshot(&b, "03-token-shown-once").await;

    // The IdP uses it: one change goes through, one is refused by the product database.
    assert_eq!(w.scim_status(&first).await, StatusCode::UNAUTHORIZED);
    db.execute_unprepared(BLOCK).await.unwrap();
    let post = |body| {
        w.env
            .request(&w.api, Method::POST, "/scim/v2/Users", Some(&token), Some(body))
    };
    let ada = post(okta_user("ada@acme.test", "Ada", "Lovelace")).await;
    assert_eq!(ada.status, StatusCode::CREATED);
    let blocked = post(okta_user("blocked@acme.test", "Bo", "Locked")).await;
    assert_eq!(blocked.status, StatusCode::CREATED);
    let (ada, blocked) = (ada.id().to_string(), blocked.id().to_string());

    let html = reload_until(&b, &tenant_url, "the activity and the dead letter", |html| {
        html.matches(r#"<tr class="activity">"#).count() == 2 && html.contains(r#"class="dead-letter""#)
    })
    .await;
    assert!(
        html.contains(&ada) && html.contains(&blocked),
        "both requests are listed"
    );
    assert!(html.contains("201 created"));
    assert!(!html.contains(&token), "the token is not shown again");
    let reason = b.text("tr.dead-letter td.reason").await;
    assert!(
        reason.contains("admin_test_block"),
        "the reason says what failed: {reason}"
    );
    screenshot(&b, "04-activity-and-dead-letter").await;

    // Fix the cause, press Retry, and the change is applied.
    db.execute_unprepared(UNBLOCK).await.unwrap();
    b.click("tr.dead-letter button.retry").await;
    let notice = b.text("#notice").await;
    assert!(notice.contains("sent back to the workers"), "{notice}");
    let applied = w
        .env
        .product_user_where(&db, blocked.parse().unwrap(), |_| true)
        .await;
    assert_eq!(applied.user_name, "blocked@acme.test");
    reload_until(&b, &tenant_url, "an empty dead-letter list", |html| {
        html.contains(r#"id="no-dead-letters""#)
    })
    .await;
    screenshot(&b, "05-retried-and-applied").await;

    // The tenant list links to it and shows its live token.
    b.goto(&w.url("/admin")).await;
    let row = b.text("#tenants tbody tr").await;
    assert!(
        row.contains("Acme Browser Test") && row.contains(&tenant) && row.contains("live"),
        "{row}"
    );
    screenshot(&b, "06-tenants").await;

    // What the page showed matches the API.
    let sync = w
        .api(Method::GET, &format!("/admin/api/tenants/{tenant}/sync"), None)
        .await;
    assert_eq!(sync["broker"]["dead_letters"], 0);
}
