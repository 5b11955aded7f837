//! The transactional outbox. A change message is written in the same transaction as the
//! directory row; after commit the request hands it to the dispatcher, which publishes it with
//! confirms and marks it sent. The relay picks up whatever the dispatcher did not confirm (broker
//! down, process killed between commit and publish), so a committed change is never lost.

pub mod dispatch;
mod outage;
pub mod relay;

use sea_orm::{ConnectionTrait, DbErr};
use shared::amqp::Outgoing;
use shared::db::stmt;
use shared::messages::ChangeMessage;
use uuid::Uuid;

/// A message written to the outbox, to be published after the transaction commits.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub outbox_id: i64,
    pub message: Outgoing,
}

/// The message as it is stored and sent: stamped with the trace context of the request that
/// made it.
fn stamped(msg: &ChangeMessage) -> Outgoing {
    let msg = ChangeMessage {
        traceparent: crate::trace_context::outgoing(),
        ..msg.clone()
    };
    Outgoing {
        message_id: msg.message_id,
        tenant_id: msg.tenant_id,
        routing_key: msg.routing_key(),
        payload: msg.to_json(),
        traceparent: msg.traceparent,
    }
}

/// A message ready to be written to the outbox: the row's values, and what the dispatcher
/// publishes once it is committed.
pub struct Prepared {
    pub message: Outgoing,
    pub payload: serde_json::Value,
}

impl Prepared {
    pub fn new(msg: &ChangeMessage) -> Self {
        let message = stamped(msg);
        Self {
            payload: serde_json::from_slice(&message.payload).unwrap_or_default(),
            message,
        }
    }

    /// The message written, as row `outbox_id`.
    pub fn written(self, outbox_id: i64) -> Enqueued {
        Enqueued {
            outbox_id,
            message: self.message,
        }
    }
}

pub async fn enqueue(db: &impl ConnectionTrait, msg: &ChangeMessage) -> Result<Enqueued, DbErr> {
    let p = Prepared::new(msg);
    let row = db
        .query_one_raw(stmt(
            "insert into scim.outbox (message_id, tenant_id, routing_key, payload) values ($1, $2, $3, $4) returning id",
            [
                p.message.message_id.into(),
                p.message.tenant_id.into(),
                p.message.routing_key.clone().into(),
                p.payload.clone().into(),
            ],
        ))
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    Ok(p.written(row.try_get("", "id")?))
}

/// Writes many messages with one statement: a membership change of a hundred users is one
/// round trip, not a hundred. Returned in the order given.
pub async fn enqueue_many(db: &impl ConnectionTrait, msgs: &[ChangeMessage]) -> Result<Vec<Enqueued>, DbErr> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let outgoing: Vec<Outgoing> = msgs.iter().map(stamped).collect();
    let message_ids: Vec<Uuid> = outgoing.iter().map(|o| o.message_id).collect();
    let tenants: Vec<Uuid> = outgoing.iter().map(|o| o.tenant_id).collect();
    let keys: Vec<String> = outgoing.iter().map(|o| o.routing_key.clone()).collect();
    let payloads: Vec<String> = outgoing
        .iter()
        .map(|o| String::from_utf8_lossy(&o.payload).into_owned())
        .collect();
    let rows = db
        .query_all_raw(stmt(
            "insert into scim.outbox (message_id, tenant_id, routing_key, payload)
             select m, t, k, p::jsonb from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) with ordinality as x(m, t, k, p, n)
             order by n
             returning id, message_id",
            [message_ids.into(), tenants.into(), keys.into(), payloads.into()],
        ))
        .await?;
    let mut ids = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        ids.insert(
            row.try_get::<Uuid>("", "message_id")?,
            row.try_get::<i64>("", "id")?,
        );
    }
    outgoing
        .into_iter()
        .map(|message| {
            let outbox_id = *ids.get(&message.message_id).ok_or(DbErr::RecordNotInserted)?;
            Ok(Enqueued { outbox_id, message })
        })
        .collect()
}

/// Marks rows as published (idempotent).
pub async fn mark_published(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    db.execute_raw(stmt(
        "update scim.outbox set published_at = now() where id = any($1) and published_at is null",
        [ids.to_vec().into()],
    ))
    .await
    .map(|_| ())
}
