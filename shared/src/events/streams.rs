//! `scim.event_streams` and `scim.event_errors`: a tenant's streams, where each stands, and
//! what its receiver reported.

use crate::entity::scim_event_error;
use crate::entity::scim_event_stream::{ActiveModel, Column, Entity, Model};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    UpdateMany,
};
use uuid::Uuid;

/// A stream to create.
pub struct New {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub delivery: &'static str,
    pub endpoint: Option<String>,
    pub authorization_header: Option<String>,
    pub token_hash: Option<Vec<u8>>,
    pub event_uris: Option<Vec<String>>,
    pub payload: &'static str,
    pub issuer: String,
    pub audience: String,
    /// Where it starts: after the tenant's last event so far.
    pub position: i64,
}

pub async fn insert(db: &impl ConnectionTrait, s: New) -> Result<Model, DbErr> {
    let row = ActiveModel {
        id: Set(s.id),
        tenant_id: Set(s.tenant_id),
        delivery: Set(s.delivery.to_owned()),
        endpoint: Set(s.endpoint),
        authorization_header: Set(s.authorization_header),
        token_hash: Set(s.token_hash),
        event_uris: Set(s.event_uris),
        payload: Set(s.payload.to_owned()),
        issuer: Set(s.issuer),
        audience: Set(s.audience),
        position: Set(s.position),
        ..Default::default()
    };
    Entity::insert(row).exec_with_returning(db).await
}

pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant))
        .one(db)
        .await
}

/// The poll stream this token opens, if it is `id`'s.
pub async fn by_token(
    db: &impl ConnectionTrait,
    id: Uuid,
    token_hash: Vec<u8>,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Reads and locks a stream for the rest of the transaction: polls of one stream take turns.
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).lock_exclusive().one(db).await
}

pub async fn delete(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tenant))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Moves a stream to `position` (replay), unpaused, with no failed attempts.
pub async fn rewind(db: &impl ConnectionTrait, id: Uuid, position: i64) -> Result<(), DbErr> {
    let update = Entity::update_many()
        .col_expr(Column::Position, Expr::val(position))
        .col_expr(Column::PausedReason, Expr::val(Option::<String>::None))
        .col_expr(Column::PausedAt, Expr::val(Option::<DateTime<Utc>>::None))
        .col_expr(Column::Attempts, Expr::val(0))
        .col_expr(Column::RetryAt, Expr::val(Option::<DateTime<Utc>>::None));
    update_stream(db, id, update).await
}

/// Records that SETs up to `position` were handed out (poll) or delivered (push).
pub async fn advance(
    db: &impl ConnectionTrait,
    id: Uuid,
    position: i64,
    delivered: bool,
) -> Result<(), DbErr> {
    let mut q = Entity::update_many().col_expr(Column::Position, Expr::val(position));
    if delivered {
        q = q.col_expr(Column::LastDeliveryAt, Expr::current_timestamp());
    }
    q.filter(Column::Id.eq(id))
        .filter(Column::Position.lt(position))
        .exec(db)
        .await
        .map(|_| ())
}

/// One thing a receiver said about a SET (`setErrs`, or a push answer).
pub struct Reported {
    pub jti: String,
    pub err: String,
    pub description: Option<String>,
}

/// Records receiver errors and shows the last one on the stream.
pub async fn record_errors(db: &impl ConnectionTrait, id: Uuid, errs: &[Reported]) -> Result<(), DbErr> {
    let Some(last) = errs.last() else { return Ok(()) };
    let rows = errs.iter().map(|e| scim_event_error::ActiveModel {
        stream_id: Set(id),
        jti: Set(e.jti.clone()),
        error_code: Set(e.err.clone()),
        description: Set(e.description.clone()),
        ..Default::default()
    });
    scim_event_error::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    let shown = match &last.description {
        Some(d) => format!("{}: {d}", last.err),
        None => last.err.clone(),
    };
    let update = Entity::update_many()
        .col_expr(Column::LastError, Expr::val(shown))
        .col_expr(Column::LastErrorAt, Expr::current_timestamp());
    update_stream(db, id, update).await
}

/// Claims up to `limit` push streams with something to deliver, that are not paused, not
/// waiting out a failure and not held by another deliverer; each is held for `lease`. A
/// stream is delivered by one deliverer at a time, in sequence order.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    lease: std::time::Duration,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::sea_query::{ExprTrait, LockBehavior, LockType, Query, QueryStatementBuilder};
    use sea_orm::{EntityName, QueryTrait};

    use crate::db::interval;
    use crate::entity::scim_event_sequence as seq;

    let now = Expr::current_timestamp();
    let last = Query::select()
        .expr(Expr::col((seq::Entity, seq::Column::Last)))
        .from(seq::Entity.table_ref())
        .and_where(Expr::col((seq::Entity, seq::Column::TenantId)).equals((Entity, Column::TenantId)))
        .take();
    let due = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Delivery.eq("push"))
        .filter(Column::PausedReason.is_null())
        .filter(
            Expr::col(Column::LeaseUntil)
                .is_null()
                .or(Expr::col(Column::LeaseUntil).lt(now.clone())),
        )
        .filter(
            Expr::col(Column::RetryAt)
                .is_null()
                .or(Expr::col(Column::RetryAt).lte(now.clone())),
        )
        .filter(
            Expr::col((Entity, Column::Position)).lt(Expr::expr(Func::coalesce([
                Expr::SubQuery(None, Box::new(last.into_sub_query_statement())),
                Expr::val(0i64),
            ]))),
        )
        .order_by_asc(Column::RetryAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_query();
    Entity::update_many()
        .col_expr(Column::LeaseUntil, now.add(interval(lease)))
        .filter(Column::Id.in_subquery(due))
        .exec_with_returning(db)
        .await
}

/// Keeps holding a stream for another `lease`.
pub async fn renew(db: &impl ConnectionTrait, id: Uuid, lease: std::time::Duration) -> Result<(), DbErr> {
    use sea_orm::sea_query::ExprTrait;
    let update = Entity::update_many().col_expr(
        Column::LeaseUntil,
        Expr::current_timestamp().add(crate::db::interval(lease)),
    );
    update_stream(db, id, update).await
}

/// Lets go of a stream (nothing left to deliver, or shutting down).
pub async fn release(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    let update = Entity::update_many().col_expr(Column::LeaseUntil, Expr::val(Option::<DateTime<Utc>>::None));
    update_stream(db, id, update).await
}

/// A push was accepted: the stream stands at `position`, with no failure pending.
pub async fn delivered(db: &impl ConnectionTrait, id: Uuid, position: i64) -> Result<(), DbErr> {
    let update = Entity::update_many()
        .col_expr(Column::Position, Expr::val(position))
        .col_expr(Column::LastDeliveryAt, Expr::current_timestamp())
        .col_expr(Column::Attempts, Expr::val(0))
        .col_expr(Column::RetryAt, Expr::val(Option::<DateTime<Utc>>::None));
    update_stream(db, id, update).await
}

/// A push failed in a way worth retrying: the stream waits until `retry_at`, and shows why.
pub async fn failed(
    db: &impl ConnectionTrait,
    id: Uuid,
    attempts: i32,
    retry_at: DateTime<Utc>,
    error: &str,
) -> Result<(), DbErr> {
    let update = Entity::update_many()
        .col_expr(Column::Attempts, Expr::val(attempts))
        .col_expr(Column::RetryAt, Expr::val(retry_at))
        .col_expr(Column::LastError, Expr::val(error))
        .col_expr(Column::LastErrorAt, Expr::current_timestamp())
        .col_expr(Column::LeaseUntil, Expr::val(Option::<DateTime<Utc>>::None));
    update_stream(db, id, update).await
}

/// The receiver refused a SET (RFC 8935 400 with `err`): the stream stops until an operator
/// replays it, and shows why.
pub async fn pause(db: &impl ConnectionTrait, id: Uuid, reason: &str) -> Result<(), DbErr> {
    let update = Entity::update_many()
        .col_expr(Column::PausedReason, Expr::val(reason))
        .col_expr(Column::PausedAt, Expr::current_timestamp())
        .col_expr(Column::LeaseUntil, Expr::val(Option::<DateTime<Utc>>::None));
    update_stream(db, id, update).await
}

/// Applies `update` to the stream `id` (the one-row writes above share it).
async fn update_stream(db: &impl ConnectionTrait, id: Uuid, update: UpdateMany<Entity>) -> Result<(), DbErr> {
    update.filter(Column::Id.eq(id)).exec(db).await.map(|_| ())
}
