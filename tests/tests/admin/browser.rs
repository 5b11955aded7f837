//! The operator's whole flow in headless Chromium (Debian's `chromium` driven through
//! `chromedriver`): sign in, create a tenant, generate a token and read it off the page, use it
//! for a real SCIM request, see the request in the activity table, watch a change get
//! dead-lettered by the product database, fix the cause, press Retry, and see the change applied.
//! Screenshots go to `target/screenshots/admin-*.png`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tests::{EVENTUALLY, okta_user};

use crate::dead_letters::{BLOCK, UNBLOCK, product_ready};
use crate::{ADMIN_KEY, AdminWorld};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `chromedriver` in a process group of its own, so that the browsers it starts go with it.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    fn start() -> Self {
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().expect("stdout");
        let mut port = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("chromedriver output");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                port = rest.trim_end_matches('.').parse::<u16>().ok();
                break;
            }
        }
        let port = port.expect("chromedriver reports its port");
        let profile =
            std::env::temp_dir().join(format!("scim-admin-chromium-{}", uuid::Uuid::new_v4().simple()));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }

    async fn browser(&self) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = tests::bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(tests::bin_dir)
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    let path = screenshots_dir().join(format!("admin-{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn value(b: &Client, css: &str) -> String {
    let el = b
        .wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css(css))
        .await
        .expect(css);
    el.prop("value").await.expect("value").unwrap_or_default()
}

async fn click(b: &Client, css: &str) {
    let el = b
        .wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css(css))
        .await
        .expect(css);
    el.click().await.expect("click");
}

/// Reloads `url` until its HTML satisfies `check`.
async fn reload_until(b: &Client, url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        b.goto(url).await.expect("goto");
        let html = b.source().await.expect("source");
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

/// Accepts the confirmation dialog a button opened (it may take a moment to appear).
async fn accept_confirmation(b: &Client) {
    let deadline = Instant::now() + EVENTUALLY;
    while b.accept_alert().await.is_err() {
        assert!(Instant::now() < deadline, "no confirmation dialog appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_operator_provisions_a_tenant_and_retries_a_dead_letter_in_the_browser() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing; install Debian's chromium and chromium-driver (scripts/test does)"
        );
        return;
    }
    let w = AdminWorld::new().await;
    let _worker = w.env.spawn_worker();
    let db = w.env.db().await;
    product_ready(&db).await;
    let driver = Driver::start();
    let b = driver.browser().await;

    // Sign in.
    b.goto(&w.url("/admin")).await.unwrap();
    b.wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css("#admin-token"))
        .await
        .expect("unsigned visitors land on the sign-in page");
    assert!(b.current_url().await.unwrap().path().ends_with("/admin/login"));
    screenshot(&b, "01-sign-in").await;
    let field = b.find(Locator::Css("#admin-token")).await.unwrap();
    field.send_keys(ADMIN_KEY).await.unwrap();
    click(&b, "#sign-in").await;

    // Create a tenant: its first token is shown once.
    let name = b
        .wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css("#tenant-name"))
        .await
        .unwrap();
    name.send_keys("Acme Browser Test").await.unwrap();
    click(&b, "#create-tenant").await;
    let first = value(&b, "#token").await;
    assert!(first.starts_with("scimr_"), "{first}");
    screenshot(&b, "02-tenant-created").await;
    click(&b, "#back-to-tenant").await;

    // Generate a new token (confirming that the old one stops) and read it off the page.
    b.wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css("#provisioning"))
        .await
        .unwrap();
    let tenant_url = b.current_url().await.unwrap().to_string();
    let tenant = b
        .find(Locator::Css("#tenant-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let base_url = value(&b, "#scim-base-url").await;
    assert_eq!(base_url, w.url("/scim/v2"));
    click(&b, "#generate-token").await;
    accept_confirmation(&b).await;
    let token = value(&b, "#token").await;
    assert!(token.starts_with("scimr_") && token != first);
    b.find(Locator::Css("#copy-token")).await.expect("a copy button");
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
    let reason = b
        .find(Locator::Css("tr.dead-letter td.reason"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        reason.contains("admin_test_block"),
        "the reason says what failed: {reason}"
    );
    screenshot(&b, "04-activity-and-dead-letter").await;

    // Fix the cause, press Retry, and the change is applied.
    db.execute_unprepared(UNBLOCK).await.unwrap();
    click(&b, "tr.dead-letter button.retry").await;
    b.wait()
        .at_most(EVENTUALLY)
        .for_element(Locator::Css("#notice"))
        .await
        .expect("the page says the letter was sent back");
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

    // What the page showed matches the API.
    let sync = w
        .api(Method::GET, &format!("/admin/api/tenants/{tenant}/sync"), None)
        .await;
    assert_eq!(sync["broker"]["dead_letters"], 0);
    b.close().await.unwrap();
}
