//! The confirming publisher against the real broker: a message only counts as published once
//! RabbitMQ has stored and routed it.

use lapin::options::QueueDeleteOptions;
use shared::amqp::{AmqpError, Outgoing, Publisher};
use shared::config::AmqpConfig;
use tests::{AMQP_URL, delete_topology};
use uuid::Uuid;

fn names() -> (String, String) {
    let n = format!("scimtest_{}", Uuid::new_v4().simple());
    (format!("{n}.changes"), format!("{n}.apply"))
}

fn message() -> Outgoing {
    Outgoing {
        message_id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        routing_key: "user.created".into(),
        payload: b"{}".to_vec(),
        traceparent: None,
    }
}

#[tokio::test]
async fn a_routed_message_is_confirmed() {
    let (x, q) = names();
    let publisher = Publisher::new(AmqpConfig::new(AMQP_URL).with_names(&x, &q), "test");
    publisher
        .publish(&[message(), message()])
        .await
        .expect("published");
    let ch = publisher.channel().await.unwrap();
    let depth = ch
        .queue_declare(
            q.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap()
        .message_count();
    assert_eq!(depth, 2);
    delete_topology(&x, &q).await.unwrap();
}

#[tokio::test]
async fn an_unroutable_message_is_an_error_not_a_success() {
    let (x, q) = names();
    let publisher = Publisher::new(AmqpConfig::new(AMQP_URL).with_names(&x, &q), "test");
    let ch = publisher.channel().await.unwrap();
    // Someone deleted the queue: the exchange now routes nowhere.
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let err = publisher.publish(&[message()]).await.unwrap_err();
    assert!(matches!(err, AmqpError::Unroutable(_)), "{err}");
    delete_topology(&x, &q).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_broker_fails_fast_and_the_next_publish_reconnects() {
    let (x, q) = names();
    let down = Publisher::new(
        AmqpConfig::new("amqp://guest:guest@127.0.0.1:1/%2f").with_names(&x, &q),
        "test",
    );
    assert!(down.publish(&[message()]).await.is_err());
    assert!(!down.is_connected().await);
    let up = Publisher::new(AmqpConfig::new(AMQP_URL).with_names(&x, &q), "test");
    up.publish(&[message()]).await.expect("published");
    assert!(up.is_connected().await);
    delete_topology(&x, &q).await.unwrap();
}

/// The "connect to any node" half of a cluster setting (the failover under load is the cluster
/// chaos run's, docs/chaos.md): a first node that refuses connections is passed over.
#[tokio::test]
async fn a_node_that_refuses_connections_is_passed_over_for_one_that_answers() {
    let (x, q) = names();
    let dead = "amqp://guest:guest@127.0.0.1:1/%2f";
    let cfg = AmqpConfig::new(format!("{dead},{AMQP_URL}")).with_names(&x, &q);
    let rotation = shared::amqp::nodes::Rotation::new(0);
    for _ in 0..3 {
        let conn = shared::amqp::connect_rotating(&cfg, "test", &rotation)
            .await
            .expect("the second node answers");
        let _ = conn.close(200, "bye".into()).await;
    }
    // Through the process-wide rotation (a random start) as the binaries connect, a publish too.
    let publisher = Publisher::new(cfg, "test");
    publisher
        .publish(&[message()])
        .await
        .expect("published through the live node");
    delete_topology(&x, &q).await.unwrap();
}
