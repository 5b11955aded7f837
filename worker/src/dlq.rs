//! Dead letters: a message that can never be applied (unparseable, unknown format, a permanent
//! database error) is republished to the dead-letter queue with the reason and attempt count in
//! its headers, and only then acked, so it is never lost. Operators inspect them with
//! `scim-worker dlq list` and send them back with `scim-worker dlq replay`.

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

fn header_text(d: &Delivery, name: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn header_int(d: &Delivery, name: &str) -> Option<i64> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// What an operator needs to see of a dead letter (never the whole body: it holds user data).
#[derive(Debug, serde::Serialize)]
pub struct DeadLetter {
    pub id: Option<String>,
    pub reason: Option<String>,
    pub attempts: Option<i64>,
    pub failed_at: Option<String>,
    pub routing_key: Option<String>,
    pub message_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: Option<String>,
    pub version: Option<i64>,
    pub bytes: usize,
}

impl DeadLetter {
    fn of(d: &Delivery) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&d.data).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Self {
            id: header_text(d, "x-scim-dead-letter-id"),
            reason: header_text(d, "x-scim-error"),
            attempts: header_int(d, "x-scim-attempts"),
            failed_at: header_text(d, "x-scim-failed-at"),
            routing_key: header_text(d, "x-scim-original-routing-key"),
            message_id: field("message_id"),
            tenant_id: field("tenant_id").or_else(|| header_text(d, "tenant_id")),
            resource_id: field("resource_id"),
            version: parsed
                .as_ref()
                .and_then(|v| v.get("version"))
                .and_then(serde_json::Value::as_i64),
            bytes: d.data.len(),
        }
    }
}

/// Which dead letters to replay.
pub enum Select {
    All,
    Id(String),
}

/// Takes every dead letter off the queue once (bounded by the depth seen at the start), lets
/// `handle` decide, and puts back whatever it does not consume. Returns the letters seen.
async fn sweep<F, Fut>(ch: &Channel, cfg: &AmqpConfig, mut handle: F) -> Result<Vec<DeadLetter>, AmqpError>
where
    F: FnMut(Delivery, DeadLetter) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Delivery>, AmqpError>>,
{
    use lapin::options::{BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
    let queue = cfg.dead_letter_queue();
    let depth = ch
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await?
        .message_count();
    let mut seen = Vec::new();
    let mut put_back = Vec::new();
    for _ in 0..depth {
        let Some(msg) = ch
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let delivery = msg.delivery;
        let letter = DeadLetter::of(&delivery);
        seen.push(DeadLetter::of(&delivery));
        if let Some(untouched) = handle(delivery, letter).await? {
            put_back.push(untouched);
        }
    }
    // Put back only after the sweep, so the same letter is not fetched twice.
    for d in put_back {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await?;
    }
    Ok(seen)
}

pub async fn list(ch: &Channel, cfg: &AmqpConfig) -> Result<Vec<DeadLetter>, AmqpError> {
    sweep(ch, cfg, |d, _| async move { Ok(Some(d)) }).await
}

/// Republishes the selected dead letters to the changes exchange under their original routing
/// key (confirmed), then removes them from the dead-letter queue. Returns how many.
pub async fn replay(ch: &Channel, cfg: &AmqpConfig, select: &Select) -> Result<usize, AmqpError> {
    let replayed = std::sync::atomic::AtomicUsize::new(0);
    let counter = &replayed;
    sweep(ch, cfg, |d, letter| async move {
        let wanted = match select {
            Select::All => true,
            Select::Id(id) => {
                letter.id.as_deref() == Some(id.as_str()) || letter.message_id.as_deref() == Some(id.as_str())
            }
        };
        if !wanted {
            return Ok(Some(d));
        }
        let key = letter.routing_key.clone().unwrap_or_else(|| "replay".into());
        let mut props = d.properties.clone();
        let mut headers = props.headers().clone().unwrap_or_default();
        headers.insert("x-scim-replayed".into(), AMQPValue::Boolean(true));
        props = props.with_headers(headers);
        let confirm = ch
            .basic_publish(
                cfg.amqp_exchange.as_str().into(),
                key.as_str().into(),
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
        d.ack(lapin::options::BasicAckOptions::default()).await?;
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(None)
    })
    .await?;
    Ok(replayed.into_inner())
}
