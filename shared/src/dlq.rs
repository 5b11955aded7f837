//! Dead letters: a message that can never be applied (unparseable, unknown format, a permanent
//! database error) is republished to the dead-letter queue with the reason and attempt count in
//! its headers, and only then acked, so it is never lost. Operators inspect them with
//! `scim-worker dlq list` or the api's admin page, and send them back with
//! `scim-worker dlq replay` or the page's Retry button; both use the functions here.

use chrono::Utc;
use lapin::types::{AMQPValue, LongString};
use lapin::{Channel, message::Delivery};
use uuid::Uuid;

use crate::amqp::{AmqpError, publish_confirmed};
use crate::config::AmqpConfig;

/// Header naming a dead letter, so that one can be replayed even when its body is unreadable.
const LETTER_ID: &str = "x-scim-dead-letter-id";

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
/// A letter keeps the id it was given the first time it died, so a replayed change that fails
/// again is still the same letter to an operator.
pub async fn publish(ch: &Channel, cfg: &AmqpConfig, d: &Delivery, reason: &str) -> Result<(), AmqpError> {
    let mut props = d.properties.clone();
    let mut headers = props.headers().clone().unwrap_or_default();
    let text = |s: String| AMQPValue::LongString(LongString::from(s));
    if header_text(d, LETTER_ID).is_none() {
        headers.insert(LETTER_ID.into(), text(Uuid::now_v7().to_string()));
    }
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
    // The error names no message id: a dead letter's body may not even parse.
    publish_confirmed(
        ch,
        &cfg.dead_letter_exchange(),
        &dead,
        &d.data,
        props,
        Uuid::nil(),
    )
    .await
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
            id: header_text(d, LETTER_ID),
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
    /// By dead-letter id or message id.
    Id(String),
    /// By dead-letter id or message id, and only if the letter belongs to this tenant (the admin
    /// page acts for one tenant at a time).
    TenantLetter {
        tenant_id: Uuid,
        id: String,
    },
}

impl Select {
    fn wants(&self, letter: &DeadLetter) -> bool {
        let named = |id: &str| letter.id.as_deref() == Some(id) || letter.message_id.as_deref() == Some(id);
        match self {
            Select::All => true,
            Select::Id(id) => named(id),
            Select::TenantLetter { tenant_id, id } => {
                named(id) && letter.tenant_id.as_deref() == Some(tenant_id.to_string().as_str())
            }
        }
    }
}

/// Messages waiting in a queue and consumers attached to it, as the broker reports them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct QueueDepth {
    pub messages: u32,
    pub consumers: u32,
}

/// Asks the broker about a queue without changing it. A missing queue closes the channel (the
/// broker answers 404), so use a channel of its own.
pub async fn queue_depth(ch: &Channel, queue: &str) -> Result<QueueDepth, AmqpError> {
    use lapin::options::QueueDeclareOptions;
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await?;
    Ok(QueueDepth {
        messages: q.message_count(),
        consumers: q.consumer_count(),
    })
}

/// Takes up to `max` dead letters off the queue once (bounded by the depth seen at the start),
/// lets `handle` decide, and puts back whatever it does not consume. Returns the letters seen
/// and the depth.
async fn sweep<F, Fut>(
    ch: &Channel,
    cfg: &AmqpConfig,
    max: usize,
    mut handle: F,
) -> Result<(Vec<DeadLetter>, u32), AmqpError>
where
    F: FnMut(Delivery, DeadLetter) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Delivery>, AmqpError>>,
{
    use lapin::options::{BasicGetOptions, BasicNackOptions};
    let queue = cfg.dead_letter_queue();
    let depth = queue_depth(ch, &queue).await?.messages;
    let mut seen = Vec::new();
    let mut put_back = Vec::new();
    for _ in 0..(depth as usize).min(max) {
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
    let returned = put_back.len();
    for d in put_back {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await?;
    }
    await_requeued(ch, &queue, returned).await?;
    Ok((seen, depth))
}

/// A requeue has no reply, and a quorum queue makes a returned message ready again only after
/// its log has agreed. Without waiting, a listing right after this sweep (the next page view, or
/// `dlq list` after `dlq replay --id`) counts the queue before the letters are back and shows
/// none. Bounded: another reader taking letters meanwhile must not hang the sweep.
async fn await_requeued(ch: &Channel, queue: &str, returned: usize) -> Result<(), AmqpError> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);
    if returned == 0 {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while (queue_depth(ch, queue).await?.messages as usize) < returned
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Every dead letter; they stay queued.
pub async fn list(ch: &Channel, cfg: &AmqpConfig) -> Result<Vec<DeadLetter>, AmqpError> {
    Ok(list_first(ch, cfg, usize::MAX).await?.letters)
}

/// The first `max` dead letters (they stay queued) and how many there are in all. Listing takes
/// each letter off the queue and puts it back, so a page that lists must bound the work.
pub async fn list_first(ch: &Channel, cfg: &AmqpConfig, max: usize) -> Result<Listing, AmqpError> {
    let (letters, depth) = sweep(ch, cfg, max, |d, _| async move { Ok(Some(d)) }).await?;
    Ok(Listing { letters, depth })
}

#[derive(Debug, serde::Serialize)]
pub struct Listing {
    pub letters: Vec<DeadLetter>,
    /// Dead letters in the queue when the listing began (all tenants).
    pub depth: u32,
}

/// Republishes the selected dead letters to the changes exchange under their original routing
/// key (confirmed), then removes them from the dead-letter queue. Returns how many.
pub async fn replay(ch: &Channel, cfg: &AmqpConfig, select: &Select) -> Result<usize, AmqpError> {
    let replayed = std::sync::atomic::AtomicUsize::new(0);
    let counter = &replayed;
    sweep(ch, cfg, usize::MAX, |d, letter| async move {
        if !select.wants(&letter) {
            return Ok(Some(d));
        }
        let key = letter.routing_key.clone().unwrap_or_else(|| "replay".into());
        let mut props = d.properties.clone();
        let mut headers = props.headers().clone().unwrap_or_default();
        headers.insert("x-scim-replayed".into(), AMQPValue::Boolean(true));
        props = props.with_headers(headers);
        publish_confirmed(ch, &cfg.amqp_exchange, &key, &d.data, props, Uuid::nil()).await?;
        d.ack(lapin::options::BasicAckOptions::default()).await?;
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(None)
    })
    .await?;
    Ok(replayed.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(tenant: Option<Uuid>) -> DeadLetter {
        DeadLetter {
            id: Some("letter-1".into()),
            reason: None,
            attempts: None,
            failed_at: None,
            routing_key: None,
            message_id: Some("msg-1".into()),
            tenant_id: tenant.map(|t| t.to_string()),
            resource_id: None,
            version: None,
            bytes: 0,
        }
    }

    #[test]
    fn a_letter_is_selected_by_its_letter_id_or_its_message_id() {
        let l = letter(None);
        assert!(Select::Id("letter-1".into()).wants(&l));
        assert!(Select::Id("msg-1".into()).wants(&l));
        assert!(!Select::Id("other".into()).wants(&l));
        assert!(Select::All.wants(&l));
    }

    #[test]
    fn a_tenant_scoped_selection_never_takes_another_tenants_letter() {
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        let select = Select::TenantLetter {
            tenant_id: mine,
            id: "letter-1".into(),
        };
        assert!(select.wants(&letter(Some(mine))));
        assert!(!select.wants(&letter(Some(theirs))));
        assert!(!select.wants(&letter(None)));
    }
}
