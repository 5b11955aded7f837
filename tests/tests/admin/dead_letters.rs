//! Dead letters through `/admin/api`: a tenant sees its own with their reason, retries them, and
//! never sees or retries another tenant's.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;
use tests::{eventually, okta_user, publish};
use uuid::Uuid;

use crate::{ADMIN_KEY, AdminWorld, As, Body};

pub async fn letters(w: &AdminWorld, tenant: Uuid) -> Vec<Value> {
    let v = w
        .api(
            Method::GET,
            &format!("/admin/api/tenants/{tenant}/dead-letters"),
            None,
        )
        .await;
    v["dead_letters"].as_array().unwrap().clone()
}

/// Waits for the worker's start-up migration of the product schema.
pub async fn product_ready(db: &DatabaseConnection) {
    eventually("the worker is ready", || async {
        db.execute_unprepared("select 1 from product.users limit 1")
            .await
            .is_ok()
    })
    .await;
}

/// Makes the product table refuse one user name, as a broken deployment might.
pub const BLOCK: &str =
    "alter table product.users add constraint admin_test_block check (user_name <> 'blocked@acme.test')";
pub const UNBLOCK: &str = "alter table product.users drop constraint admin_test_block";

#[tokio::test]
async fn a_tenants_dead_letters_are_listed_with_their_reason_and_retried_only_by_that_tenant() {
    let world = AdminWorld::new().await;
    let w = &world;
    let _worker = w.env.spawn_worker();
    let db = w.env.db().await;
    product_ready(&db).await;
    let (acme, _) = w.tenant("Acme").await;
    let (globex, _) = w.tenant("Globex").await;

    let mut headers = FieldTable::default();
    headers.insert(
        "tenant_id".into(),
        AMQPValue::LongString(LongString::from(acme.to_string())),
    );
    publish(
        &w.env.exchange,
        "user.created",
        b"{not json",
        BasicProperties::default().with_headers(headers),
    )
    .await;
    eventually("the poison message is listed for its tenant", || async {
        letters(w, acme).await.len() == 1
    })
    .await;
    let letter = letters(w, acme).await.remove(0);
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("not a change message"),
        "{letter}"
    );
    assert_eq!(letter["attempts"], 1);
    let id = letter["id"].as_str().unwrap().to_owned();
    assert!(
        letters(w, globex).await.is_empty(),
        "another tenant does not see it"
    );

    let retry = |tenant: Uuid| {
        let path = format!("/admin/api/tenants/{tenant}/dead-letters/{id}/retry");
        async move {
            w.send(Method::POST, &path, As::Bearer(ADMIN_KEY), Body::None)
                .await
        }
    };
    let r = retry(globex).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.json()["error"], "unknown_dead_letter");
    assert_eq!(letters(w, acme).await.len(), 1, "still there");

    let r = retry(acme).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Still unreadable, so the worker dead-letters it again, under the same id.
    eventually("the retried poison message is back", || async {
        letters(w, acme)
            .await
            .first()
            .is_some_and(|l| l["id"] == id.as_str())
    })
    .await;
    let sync = w
        .api(Method::GET, &format!("/admin/api/tenants/{acme}/sync"), None)
        .await;
    assert_eq!(sync["broker"]["dead_letters"], 1);
    assert_eq!(
        sync["broker"]["changes_queue"]["consumers"], 1,
        "one worker: {sync}"
    );
}

#[tokio::test]
async fn a_change_dead_lettered_by_the_product_database_is_applied_when_retried_after_the_fix() {
    let w = AdminWorld::new().await;
    let _worker = w.env.spawn_worker();
    let db = w.env.db().await;
    product_ready(&db).await;
    db.execute_unprepared(BLOCK).await.unwrap();
    let (tenant, token) = w.tenant("Acme").await;
    let created = w
        .env
        .request(
            &w.api,
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            Some(okta_user("blocked@acme.test", "Bo", "Locked")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let user = created.id();
    eventually("the change is dead-lettered", || async {
        letters(&w, tenant).await.len() == 1
    })
    .await;
    let letter = letters(&w, tenant).await.remove(0);
    assert_eq!(letter["resource_id"], user.to_string());
    assert!(
        letter["reason"].as_str().unwrap().contains("admin_test_block"),
        "the reason names what failed: {letter}"
    );
    assert!(w.env.product_user(&db, user).await.is_none());

    db.execute_unprepared(UNBLOCK).await.unwrap();
    let id = letter["id"].as_str().unwrap();
    w.api(
        Method::POST,
        &format!("/admin/api/tenants/{tenant}/dead-letters/{id}/retry"),
        None,
    )
    .await;
    let applied = w.env.product_user_where(&db, user, |_| true).await;
    assert_eq!(applied.user_name, "blocked@acme.test");
    assert!(letters(&w, tenant).await.is_empty());
}
