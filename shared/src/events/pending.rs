//! `scim.event_pending`: SETs handed to a poll stream and not acknowledged yet.

use std::time::Duration;

use crate::db::interval;
use crate::entity::scim_event_pending::{ActiveModel, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// Notes SETs as handed out now.
pub async fn handed_out(db: &impl ConnectionTrait, stream: Uuid, sets: &[(i64, Uuid)]) -> Result<(), DbErr> {
    if sets.is_empty() {
        return Ok(());
    }
    let rows = sets.iter().map(|&(sequence, jti)| ActiveModel {
        stream_id: Set(stream),
        sequence: Set(sequence),
        jti: Set(jti),
        delivered_at: Set(chrono::Utc::now().into()),
    });
    Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([Column::StreamId, Column::Sequence])
                .update_column(Column::DeliveredAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Up to `limit` SETs handed out longer than `timeout` ago and not acknowledged, oldest first.
pub async fn overdue(
    db: &impl ConnectionTrait,
    stream: Uuid,
    timeout: Duration,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Sequence)
        .filter(Column::StreamId.eq(stream))
        .filter(Expr::col(Column::DeliveredAt).lt(Expr::current_timestamp().sub(interval(timeout))))
        .order_by_asc(Column::Sequence)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Acknowledges SETs by `jti`; returns how many were pending.
pub async fn acknowledge(db: &impl ConnectionTrait, stream: Uuid, jtis: &[Uuid]) -> Result<u64, DbErr> {
    if jtis.is_empty() {
        return Ok(0);
    }
    let res = Entity::delete_many()
        .filter(Column::StreamId.eq(stream))
        .filter(Column::Jti.is_in(jtis.iter().copied()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Forgets every pending SET of a stream (replay starts over).
pub async fn clear(db: &impl ConnectionTrait, stream: Uuid) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::StreamId.eq(stream))
        .exec(db)
        .await
        .map(|_| ())
}

/// How many SETs of a stream are handed out and not acknowledged.
pub async fn count(db: &impl ConnectionTrait, stream: Uuid) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    Entity::find().filter(Column::StreamId.eq(stream)).count(db).await
}
