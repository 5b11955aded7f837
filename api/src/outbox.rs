//! The transactional outbox. A change message is written in the same transaction as the
//! directory row; after commit the request hands it to the dispatcher, which publishes it with
//! confirms and marks it sent. The relay picks up whatever the dispatcher did not confirm (broker
//! down, process killed between commit and publish), so a committed change is never lost.

pub mod dispatch;
pub mod relay;

use sea_orm::{ConnectionTrait, DbErr};
use shared::amqp::Outgoing;
use shared::db::stmt;
use shared::messages::ChangeMessage;

/// A message written to the outbox, to be published after the transaction commits.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub outbox_id: i64,
    pub message: Outgoing,
}

pub async fn enqueue(db: &impl ConnectionTrait, msg: &ChangeMessage) -> Result<Enqueued, DbErr> {
    let payload = msg.to_json();
    let json: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
    let routing_key = msg.routing_key();
    let row = db
        .query_one_raw(stmt(
            "insert into scim.outbox (message_id, tenant_id, routing_key, payload) values ($1, $2, $3, $4) returning id",
            [msg.message_id.into(), msg.tenant_id.into(), routing_key.clone().into(), json.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    Ok(Enqueued {
        outbox_id: row.try_get("", "id")?,
        message: Outgoing {
            message_id: msg.message_id,
            tenant_id: msg.tenant_id,
            routing_key,
            payload,
        },
    })
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
