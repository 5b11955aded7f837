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

/// Whether the browser tests cannot run here (and say so).
fn skipped() -> bool {
    let missing = !webdriver::available();
    if missing {
        eprintln!(
            "SKIPPED: {} or {} is missing; install Debian's chromium and chromium-driver (scripts/test does)",
            webdriver::CHROMIUM,
            webdriver::CHROMEDRIVER
        );
    }
    missing
}

#[tokio::test]
async fn an_operator_provisions_a_tenant_and_retries_a_dead_letter_in_the_browser() {
    if skipped() {
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

#[tokio::test]
async fn an_operator_sees_a_held_mass_deactivation_and_approves_it_in_the_browser() {
    if skipped() {
        return;
    }
    let w = AdminWorld::new().await;
    let _worker = w.env.spawn_worker();
    let db = w.env.db().await;
    product_ready(&db).await;
    let (tenant, token) = w.env.create_tenant("Acme Guarded");
    // 40 users, then an IdP's scope mistake deactivates 30: 25 (min_count) pass, 5 are held.
    let (env, api, token) = (&w.env, &w.api, token.as_str());
    let scim = move |method, path: String, body| async move {
        env.request(api, method, &path, Some(token), Some(body)).await
    };
    let mut ids = Vec::new();
    for i in 0..40 {
        let user = okta_user(&format!("employee{i:02}@acme.test"), "Em", "Ployee");
        let r = scim(Method::POST, "/scim/v2/Users".into(), user).await;
        assert_eq!(r.status, StatusCode::CREATED);
        ids.push(r.id());
    }
    for id in &ids[..30] {
        let deactivate = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]});
        let r = scim(Method::PATCH, format!("/scim/v2/Users/{id}"), deactivate).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let inactive = "select count(*) as n from product.users where not active";
    tests::eventually("the threshold reaches the product", || async {
        tests::scalar::<i64>(&db, inactive, "n").await == 25
    })
    .await;

    let b = Browser::start().await;
    b.goto(&w.url("/admin")).await;
    b.type_into("#admin-token", ADMIN_KEY).await;
    b.click("#sign-in").await;
    b.find("#tenants").await;
    b.goto(&w.url(&format!("/admin/tenants/{tenant}"))).await;
    let banner = b.text("#guard-banner").await;
    assert!(banner.contains("Mass deprovisioning held: 5"), "{banner}");
    assert!(
        banner.contains("employee2"),
        "a sample of the held users: {banner}"
    );
    let card = b.text("#guard-counted").await;
    assert!(card.contains("25 of 25"), "{card}");
    screenshot(&b, "07-deprovisioning-held").await;

    b.click("#guard-approve").await;
    b.accept_dialog().await;
    let notice = b.text("#notice").await;
    assert!(notice.contains("Approved 5"), "{notice}");
    assert!(
        !b.source().await.contains(r#"id="guard-banner""#),
        "the banner is gone"
    );
    tests::eventually("the approved changes reach the product", || async {
        tests::scalar::<i64>(&db, inactive, "n").await == 30
    })
    .await;
    screenshot(&b, "08-deprovisioning-approved").await;
}
