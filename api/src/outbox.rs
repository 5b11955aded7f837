//! The transactional outbox. A change message is written in the same transaction as the
//! directory row; after commit the request hands it to the dispatcher, which publishes it with
//! confirms and marks it sent. The relay picks up whatever the dispatcher did not confirm (broker
//! down, process killed between commit and publish), so a committed change is never lost.

pub mod dispatch;
mod outage;
pub mod relay;

use std::future::Future;
use std::time::Duration;

use sea_orm::sea_query::extension::postgres::{PgExpr, PgFunc};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Func, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityName, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use shared::amqp::Outgoing;
use shared::db::{interval, stmt};
use shared::entity::scim_outbox::{ActiveModel, Column, Entity};
use shared::messages::ChangeMessage;
use uuid::Uuid;

/// A message written to the outbox, to be published after the transaction commits.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub outbox_id: i64,
    pub message: Outgoing,
}

tokio::task_local! {
    /// The `txn` of the asynchronous request being served.
    static ASYNC_TXN: Uuid;
}

/// Runs a write of the asynchronous request `txn`: every message it writes to the outbox carries
/// the `txn`, so that the worker applying it can record the request's completion. A task-local,
/// like the trace context, because the messages are made deep in each resource type's writes.
pub async fn for_async_request<F: Future>(txn: Uuid, write: F) -> F::Output {
    ASYNC_TXN.scope(txn, write).await
}

/// The message as it is stored and sent: stamped with the trace context of the request that
/// made it, and with its asynchronous request's `txn`.
fn stamped(msg: &ChangeMessage) -> Outgoing {
    let msg = ChangeMessage {
        traceparent: crate::trace_context::outgoing(),
        txn: msg.txn.or_else(|| ASYNC_TXN.try_with(|t| *t).ok()),
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
    let row = ActiveModel {
        message_id: Set(p.message.message_id),
        tenant_id: Set(p.message.tenant_id),
        routing_key: Set(p.message.routing_key.clone()),
        payload: Set(p.payload.clone()),
        ..Default::default()
    };
    let id = Entity::insert(row).exec(db).await?.last_insert_id;
    Ok(p.written(id))
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
    // Raw: `unnest ... with ordinality` is one statement text for any number of rows (one
    // prepared statement, one round trip, ids in the order given); sea-query cannot say it.
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
        ids.insert(row.try_get_by_index::<Uuid>(1)?, row.try_get_by_index::<i64>(0)?);
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
    // `= any($1)` binds the ids as one array: one statement text whatever the batch size.
    Entity::update_many()
        .col_expr(Column::PublishedAt, Expr::current_timestamp())
        .filter(Expr::col(Column::Id).eq(PgFunc::any(Expr::val(ids.to_vec()))))
        .filter(Column::PublishedAt.is_null())
        .exec(db)
        .await
        .map(|_| ())
}

/// An unpublished row claimed by the relay: id, message id, tenant, routing key, the payload as
/// text (the bytes sent) and its trace context.
pub type Claimed = (i64, Uuid, Uuid, String, String, Option<String>);

/// Claims up to `limit` rows unpublished for longer than `grace`, oldest first, locked until
/// the transaction ends; rows another relay holds are skipped, not waited for.
pub async fn claim_unpublished(
    txn: &impl ConnectionTrait,
    grace: Duration,
    limit: u64,
) -> Result<Vec<Claimed>, DbErr> {
    Entity::find()
        .select_only()
        .columns([
            Column::Id,
            Column::MessageId,
            Column::TenantId,
            Column::RoutingKey,
        ])
        .expr(Column::Payload.into_expr().cast_as("text"))
        .expr(Column::Payload.into_expr().cast_json_field("traceparent"))
        .filter(Column::PublishedAt.is_null())
        .filter(Expr::col(Column::CreatedAt).lt(Expr::current_timestamp().sub(interval(grace))))
        .order_by_asc(Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(txn)
        .await
}

/// Deletes up to `limit` rows published longer than `retention` ago.
pub async fn purge_published(
    db: &impl ConnectionTrait,
    retention: Duration,
    limit: u64,
) -> Result<u64, DbErr> {
    let expired = Query::select()
        .column(Column::Id)
        .from(Entity.table_ref())
        .and_where(Column::PublishedAt.is_not_null())
        .and_where(Expr::col(Column::PublishedAt).lt(Expr::current_timestamp().sub(interval(retention))))
        // Oldest first, which only the `published_at` index answers: the scan stops at the
        // first row still kept. Without an order, a planner whose statistics do not show how
        // recent the rows are (autovacuum off, or a table that just grew) expects a third of
        // them to have expired and reads the table until `limit` rows match: the whole outbox
        // on every pass while none had (130 ms a pass with 350,000 rows).
        .order_by(Column::PublishedAt, Order::Asc)
        .limit(limit)
        .take();
    let res = Entity::delete_many()
        .filter(Column::Id.in_subquery(expired))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Unpublished rows, of one tenant or of all: how many, and the age in seconds of the oldest
/// (`None` when there are none).
pub async fn unpublished(
    db: &impl ConnectionTrait,
    tenant_id: Option<Uuid>,
) -> Result<(i64, Option<f64>), DbErr> {
    let oldest = Expr::current_timestamp().sub(Func::min(Expr::col(Column::CreatedAt)));
    let row = Entity::find()
        .select_only()
        .expr(Expr::col(Asterisk).count())
        .expr(Func::cust("date_part").arg("epoch").arg(oldest))
        .filter(Column::PublishedAt.is_null())
        .apply_if(tenant_id, |q, t| q.filter(Column::TenantId.eq(t)))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, None)))
}
