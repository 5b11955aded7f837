//! Dead letters: a message that can never be applied (unparseable, unknown format, a permanent
//! database error) is republished to the dead-letter queue with the reason and attempt count in
//! its headers, and only then acked, so it is never lost.

use chrono::Utc;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, LongString};
use lapin::{Channel, message::Delivery};
use shared::amqp::AmqpError;
use shared::config::AmqpConfig;

/// How many times the broker has delivered this message before (quorum queues count it).
pub fn delivery_count(d: &Delivery) -> i64 {
    let Some(headers) = d.properties.headers() else {
        return 0;
    };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(*n),
        _ => 0,
    }
}

/// Publishes the delivery to the dead-letter queue (with confirms) and returns once it is safe.
pub async fn publish(ch: &Channel, cfg: &AmqpConfig, d: &Delivery, reason: &str) -> Result<(), AmqpError> {
    let mut props = d.properties.clone();
    let mut headers = props.headers().clone().unwrap_or_default();
    let text = |s: String| AMQPValue::LongString(LongString::from(s));
    headers.insert("x-scim-error".into(), text(reason.chars().take(1000).collect()));
    headers.insert(
        "x-scim-attempts".into(),
        AMQPValue::LongLongInt(delivery_count(d) + 1),
    );
    headers.insert("x-scim-failed-at".into(), text(Utc::now().to_rfc3339()));
    headers.insert(
        "x-scim-original-routing-key".into(),
        text(d.routing_key.to_string()),
    );
    props = props.with_headers(headers).with_delivery_mode(2);
    let dead = cfg.dead_letter_queue();
    let confirm = ch
        .basic_publish(
            cfg.dead_letter_exchange().as_str().into(),
            dead.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            &d.data,
            props,
        )
        .await?
        .await?;
    if confirm.is_nack() || confirm.take_message().is_some() {
        return Err(AmqpError::Unroutable(uuid::Uuid::nil()));
    }
    Ok(())
}
