//! Dead letters: poison messages land in the dead-letter queue with their reason;
//! `scim-worker dlq list` shows them without consuming them, and `dlq replay` sends them back.

use chrono::Utc;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use shared::messages::{ChangeMessage, Operation, Resource, UserSnapshot};
use tests::{TestEnv, eventually, publish};
use uuid::Uuid;

fn listed(env: &TestEnv) -> Vec<Value> {
    let (ok, lines) = env.worker_cli(&["dlq", "list"]);
    assert!(ok, "{lines:?}");
    lines
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_replayed_on_demand() {
    let env = TestEnv::new().await;
    let _worker = env.spawn_worker();
    let db = env.db().await;
    eventually("the worker is ready", || async {
        db.execute_unprepared("select 1 from product.users limit 1")
            .await
            .is_ok()
    })
    .await;
    env.worker_consuming().await;

    publish(
        &env.exchange,
        "user.created",
        b"{not json",
        BasicProperties::default(),
    )
    .await;
    eventually("the poison message is dead-lettered", || async {
        listed(&env).len() == 2
    })
    .await;
    let lines = listed(&env);
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a change message"),
        "{lines:?}"
    );
    assert_eq!(lines[0]["attempts"], 1);
    assert!(
        lines[0]["id"].as_str().is_some_and(|id| !id.is_empty()),
        "an unreadable letter still gets an id to replay it by: {lines:?}"
    );
    assert_eq!(lines[1]["dead_letters"], 1);
    assert_eq!(listed(&env).len(), 2, "listing does not consume");

    // A good change that was dead-lettered earlier (say, during a bug), with our headers.
    let id = Uuid::now_v7();
    let snap = UserSnapshot {
        user_name: "back@acme.test".into(),
        active: true,
        ..Default::default()
    };
    let msg = ChangeMessage::new(
        Uuid::now_v7(),
        id,
        1,
        Operation::Created,
        Utc::now(),
        Resource::User(snap),
    );
    let mut headers = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.to_owned()));
    headers.insert("x-scim-error".into(), text("database rejected the row"));
    headers.insert("x-scim-dead-letter-id".into(), text("letter-1"));
    headers.insert("x-scim-original-routing-key".into(), text("user.created"));
    publish(
        &format!("{}.dlx", env.exchange),
        &format!("{}.dead", env.queue),
        &msg.to_json(),
        BasicProperties::default().with_headers(headers),
    )
    .await;
    let lines = listed(&env);
    assert_eq!(lines.last().unwrap()["dead_letters"], 2);
    assert!(
        lines
            .iter()
            .any(|l| l["resource_id"] == id.to_string() && l["id"] == "letter-1")
    );

    let (ok, out) = env.worker_cli(&["dlq", "replay", "--id", "letter-1"]);
    assert!(ok, "{out:?}");
    assert_eq!(out[0]["replayed"], 1);
    let p = env.product_user_where(&db, id, |_| true).await;
    assert_eq!(p.user_name, "back@acme.test");
    assert_eq!(
        listed(&env).last().unwrap()["dead_letters"],
        1,
        "the poison one stays"
    );

    // Replaying the poison again sends it through the worker, which dead-letters it again.
    let (ok, out) = env.worker_cli(&["dlq", "replay", "--all"]);
    assert!(ok && out[0]["replayed"] == 1, "{out:?}");
    eventually("the poison message is back in the dead-letter queue", || async {
        listed(&env).last().unwrap()["dead_letters"] == 1
    })
    .await;
    let (ok, _) = env.worker_cli(&["dlq", "replay"]);
    assert!(!ok, "replay needs --id or --all");
}

/// Listing takes each letter off the queue and puts it back; a listing that follows at once (the
/// next page view, each on a connection of its own) must still see every letter.
#[tokio::test]
async fn back_to_back_listings_on_fresh_connections_each_see_every_letter() {
    use shared::amqp;
    use shared::config::AmqpConfig;
    use shared::dlq;

    let env = TestEnv::new().await;
    let cfg = AmqpConfig::new(env.services.amqp_url.clone()).with_names(&env.exchange, &env.queue);
    let conn = amqp::connect(&cfg, "dlq-test-setup").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    amqp::declare_topology(&ch, &cfg).await.unwrap();
    for n in 0..3 {
        publish(
            &cfg.dead_letter_exchange(),
            &cfg.dead_letter_queue(),
            format!("letter {n}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
    }
    eventually("three letters are queued", || async {
        dlq::queue_depth(&ch, &cfg.dead_letter_queue())
            .await
            .is_ok_and(|d| d.messages == 3)
    })
    .await;
    for round in 0..25 {
        let conn = amqp::connect(&cfg, "dlq-test-list").await.unwrap();
        let lister = conn.create_channel().await.unwrap();
        let seen = dlq::list(&lister, &cfg).await.unwrap();
        assert_eq!(seen.len(), 3, "listing {round} saw {seen:?}");
        // The tightest window: another channel asks the moment the listing returns.
        let depth = dlq::queue_depth(&ch, &cfg.dead_letter_queue()).await.unwrap();
        assert_eq!(depth.messages, 3, "after listing {round} the letters are back");
        let _ = conn.close(200, "bye".into()).await;
    }
    let _ = conn.close(200, "bye".into()).await;
}
