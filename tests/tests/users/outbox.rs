use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use tests::okta_user;

use crate::World;

async fn unpublished(db: &sea_orm::DatabaseConnection) -> i64 {
    tests::scalar(
        db,
        "select count(*) as n from scim.outbox where published_at is null",
        "n",
    )
    .await
}

#[tokio::test]
async fn with_the_broker_unreachable_writes_succeed_and_are_delivered_later() {
    let w = World::new().await;
    // An api whose broker is a closed port: nothing can be published.
    let cut_off = w
        .env
        .spawn_api_with(&[("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")])
        .await;
    let r = w
        .env
        .request(
            &cut_off,
            Method::POST,
            "/scim/v2/Users",
            Some(&w.token),
            Some(okta_user("offline@acme.test", "Off", "Line")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    let read = w
        .env
        .request(
            &cut_off,
            Method::GET,
            &format!("/scim/v2/Users/{id}"),
            Some(&w.token),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "reads are served from the directory");
    let ready = w
        .env
        .http
        .get(format!("{}/readyz", cut_off.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let db = w.env.db().await;
    assert!(unpublished(&db).await >= 1, "the change waits in the outbox");
    drop(cut_off);
    // The healthy api's relay picks up what the other left behind.
    let p = w.env.product_user_where(&db, id, |_| true).await;
    assert_eq!(p.user_name, "offline@acme.test");
    tests::eventually("the outbox drains", || async { unpublished(&db).await == 0 }).await;
}

#[tokio::test]
async fn every_change_writes_one_outbox_row_with_the_new_version() {
    let w = World::new().await;
    let id = w.post_user(okta_user("ob@acme.test", "O", "B")).await.id();
    let patch = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch.clone()))
        .await;
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await; // no change: no row
    w.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    let db = w.env.db().await;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "select routing_key, (payload->>'version')::bigint as v from scim.outbox order by id",
        ))
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.try_get("", "routing_key").unwrap(), r.try_get("", "v").unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("user.created".into(), 1),
            ("user.updated".into(), 2),
            ("user.deleted".into(), 3)
        ]
    );
}
