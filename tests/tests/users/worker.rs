use std::collections::HashSet;

use lapin::options::BasicGetOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use reqwest::Method;
use serde_json::json;
use tests::{AMQP_URL, EVENTUALLY, okta_user};

use crate::World;

async fn publish_raw(w: &World, body: &[u8]) {
    tests::publish(&w.env.exchange, "user.updated", body, BasicProperties::default()).await;
}

async fn latest_message(w: &World) -> serde_json::Value {
    tests::scalar(
        &w.env.db().await,
        "select payload from scim.outbox order by id desc limit 1",
        "payload",
    )
    .await
}

#[tokio::test]
async fn duplicate_and_stale_messages_change_nothing() {
    let w = World::new().await;
    let id = w.post_user(okta_user("idem@acme.test", "Id", "Em")).await.id();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "v2"}]});
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |p| p.version == 2).await;
    let v2 = latest_message(&w).await;
    // An older version (v1 with a different title), and the v2 message again.
    let mut stale = v2.clone();
    stale["version"] = json!(1);
    stale["message_id"] = json!(uuid::Uuid::now_v7());
    stale["snapshot"]["title"] = json!("stale");
    publish_raw(&w, stale.to_string().as_bytes()).await;
    publish_raw(&w, v2.to_string().as_bytes()).await;
    // A later marker message proves the worker has consumed past them.
    let mut marker = okta_user("marker@acme.test", "M", "K");
    marker["title"] = json!("marker");
    let marker_id = w.post_user(marker).await.id();
    w.env.product_user_where(&db, marker_id, |_| true).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let p = w.env.product_user(&db, id).await.unwrap();
    assert_eq!(p.version, 2);
    assert_eq!(p.job_title.as_deref(), Some("v2"));
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_queue_with_the_reason() {
    let w = World::new().await;
    // Make sure the worker has declared the topology.
    let id = w.post_user(okta_user("first@acme.test", "F", "I")).await.id();
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |_| true).await;
    publish_raw(&w, b"{this is not json").await;
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let dead = format!("{}.dead", w.env.queue);
    let deadline = std::time::Instant::now() + EVENTUALLY;
    let msg = loop {
        if let Some(m) = ch
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "nothing dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(msg.delivery.data, b"{this is not json");
    let headers = msg.delivery.properties.headers().clone().unwrap();
    let reason = match headers.inner().get("x-scim-error") {
        Some(lapin::types::AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("x-scim-error header missing: {other:?}"),
    };
    assert!(reason.contains("not a change message"), "{reason}");
    assert!(headers.inner().contains_key("x-scim-attempts"));
    let _ = conn.close(200, "bye".into()).await;
}

#[tokio::test]
async fn a_worker_exits_cleanly_on_sigterm() {
    let mut w = World::new().await;
    let id = w.post_user(okta_user("term@acme.test", "T", "Erm")).await.id();
    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |_| true).await;
    let status = w.worker.as_mut().unwrap().terminate();
    assert!(status.success(), "exit status {status:?}");
    // Changes made while no worker runs wait in the queue for the next one.
    let later = w.post_user(okta_user("later@acme.test", "La", "Ter")).await.id();
    assert!(w.env.product_user(&db, later).await.is_none());
    w.worker = Some(w.env.spawn_worker());
    w.env.product_user_where(&db, later, |_| true).await;
}

#[tokio::test]
async fn several_workers_share_the_queue_and_apply_everything() {
    let mut w = World::new().await;
    let second = w.env.spawn_worker();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            w.post_user(okta_user(&format!("many{i}@acme.test"), "M", &i.to_string()))
                .await
                .id(),
        );
    }
    let db = w.env.db().await;
    for id in ids {
        w.env.product_user_where(&db, id, |_| true).await;
    }
    drop(second);
    w.worker.take();
}

/// The window between the apply's commit and its ack, made deterministic with the worker's
/// test-only hold: the product already has the change, the broker does not know it yet.
#[tokio::test]
async fn a_worker_killed_between_commit_and_ack_gets_the_messages_again_and_nothing_changes() {
    let mut w = World::new().await;
    w.worker.take();
    let mut held = w
        .env
        .spawn_worker_with(&[("SCIM_FAULT_HOLD_BEFORE_ACK_MS", "600000")]);
    let id = w.post_user(okta_user("held@acme.test", "He", "Ld")).await.id();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "Held"}]});
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    const HOLDING: &str = "fault injection: committed, holding the ack";
    tests::eventually("both changes committed and their acks held", || async {
        tests::log_events(&held.log(), HOLDING).len() == 2
    })
    .await;
    let held_ids: HashSet<String> = tests::log_events(&held.log(), HOLDING)
        .iter()
        .map(|e| e["span"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    let db = w.env.db().await;
    let before = w
        .env
        .product_user(&db, id)
        .await
        .expect("committed before the hold");
    assert_eq!((before.version, before.job_title.as_deref()), (2, Some("Held")));
    held.kill9();

    let next = w.env.spawn_worker_with(&[("RUST_LOG", "info,scim_worker=debug")]);
    tests::eventually("the unacked messages are redelivered and found stale", || async {
        let stale: HashSet<String> = tests::log_events(&next.log(), "change handled")
            .iter()
            .filter(|e| e["fields"]["outcome"] == "stale")
            .map(|e| e["span"]["message_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        held_ids.is_subset(&stale)
    })
    .await;
    let after = w.env.product_user(&db, id).await.unwrap();
    assert_eq!(
        after, before,
        "same version, same updated_at: nothing was written again"
    );
    let applied = tests::log_events(&next.log(), "change handled")
        .into_iter()
        .filter(|e| e["fields"]["outcome"] == "applied")
        .count();
    assert_eq!(applied, 0, "{}", next.log());
}
