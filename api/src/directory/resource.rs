//! What users and groups share in the directory: reading a live row by id, locking it, storing a
//! new version or a tombstone with its change message in the same transaction, and listing a
//! page. What differs (the table and its key column, the columns a document sets, the message's
//! JSON, the conflict a taken key is) is behind [`Resource`].

use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect, Select,
    UpdateMany, Value,
};
use shared::messages::{ChangeMessage, Operation, Resource as Payload};
use uuid::Uuid;

use super::sort_sql::Order;
use super::{Query, Rows, Scope, Selection, in_tenant};
use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::filter::Filter;
use crate::scim::meta::Meta;
use crate::scim::sort::Sort;
use crate::scim::{Invalid, user};

pub type Col<R> = <<R as Table>::Entity as EntityTrait>::Column;
pub type Model<R> = <<R as Table>::Entity as EntityTrait>::Model;

/// A user or group as stored: its document and what its `meta` shows.
#[derive(Debug, Clone)]
pub struct Stored {
    pub doc: user::Doc,
    pub meta: Meta,
}

impl Stored {
    /// A row's document and meta; `revision` is what the ETag counts.
    pub fn new(
        resource: serde_json::Value,
        id: Uuid,
        created: DateTimeWithTimeZone,
        last_modified: DateTimeWithTimeZone,
        version: i64,
        revision: i64,
    ) -> Self {
        Self {
            doc: match resource {
                serde_json::Value::Object(doc) => doc,
                _ => user::Doc::new(),
            },
            meta: Meta {
                id,
                created: created.to_utc(),
                last_modified: last_modified.to_utc(),
                version,
                revision,
            },
        }
    }
}

/// A directory table: its entity and the columns the shared statements name.
pub trait Table {
    type Entity: EntityTrait + Default;
    const ID: Col<Self>;
    const TENANT: Col<Self>;
    /// The folded unique key an IdP looks resources up by (userName, displayName).
    const KEY: Col<Self>;
    const DELETED_AT: Col<Self>;
    const UPDATED_AT: Col<Self>;
    /// The counters every change of the row moves: its version, and a group's ETag revision.
    const COUNTERS: &'static [Col<Self>];
}

/// A SCIM resource type kept in a directory [`Table`].
pub trait Resource: Table {
    fn stored(model: Model<Self>) -> Stored;
    /// What the change message carries of the resource.
    fn payload(doc: &user::Doc, deleted: bool) -> Payload;
    /// The columns a document sets (`resource` and what is derived from it).
    fn columns(doc: &user::Doc) -> Vec<(Col<Self>, Value)>;
    /// What a tombstone sets besides `deleted_at` (a deleted user is inactive).
    fn tombstone() -> Vec<(Col<Self>, Value)>;
    /// A write the database refused, as the client sees it (a taken key is a conflict).
    fn write_err(e: DbErr, doc: &user::Doc) -> ScimError;
    /// Which rows a list's filter selects.
    fn selection(filter: &Filter, scope: Scope) -> Result<Selection, Invalid>;
    /// The order of a list.
    fn order(sort: Option<&Sort>, scope: Scope) -> Result<Order, Invalid>;
}

pub fn message<R: Resource>(tenant: Uuid, stored: &Stored, op: Operation) -> ChangeMessage {
    ChangeMessage::new(
        tenant,
        stored.meta.id,
        stored.meta.version,
        op,
        stored.meta.last_modified,
        R::payload(&stored.doc, op == Operation::Deleted),
    )
}

/// The tenant's live row `id`.
fn live<R: Table>(tenant: Uuid, id: Uuid) -> Select<R::Entity> {
    R::Entity::find()
        .filter(R::ID.into_expr().eq(in_tenant::<R>(tenant, id)))
        .filter(R::DELETED_AT.is_null())
}

pub async fn get<R: Resource>(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<Stored>, DbErr> {
    Ok(live::<R>(tenant, id).one(db).await?.map(R::stored))
}

/// A live row with the value of `attach` over it, in one statement (see `super::page`).
pub async fn get_attached<R: Resource>(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
    attach: Expr,
) -> Result<Option<(Stored, Option<serde_json::Value>)>, DbErr> {
    Ok(live::<R>(tenant, id)
        .expr_as(attach, super::ATTACHED)
        .into_model::<super::Attached<Model<R>>>()
        .one(db)
        .await?
        .map(|a| (R::stored(a.model), a.attached)))
}

/// Reads and locks a live row for the rest of the transaction.
pub async fn lock<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<Stored>, DbErr> {
    Ok(live::<R>(tenant, id)
        .lock_exclusive()
        .one(txn)
        .await?
        .map(R::stored))
}

/// An update of the tenant's row `id` that moves `counters` by one and `updated_at` forward
/// (never back, whatever the clocks do).
pub fn change<R: Table>(tenant: Uuid, id: Uuid, counters: &[Col<R>]) -> UpdateMany<R::Entity> {
    let later = Func::greatest([Expr::current_timestamp(), Expr::col(R::UPDATED_AT)]);
    let u = R::Entity::update_many().col_expr(R::UPDATED_AT, later.into());
    counters
        .iter()
        .fold(u, |u, c| u.col_expr(*c, Expr::col(*c).add(1)))
        .filter(R::ID.into_expr().eq(in_tenant::<R>(tenant, id)))
}

/// Runs an update of one row and returns the row as stored.
pub async fn returning<R: Resource>(
    txn: &DatabaseTransaction,
    u: UpdateMany<R::Entity>,
) -> Result<Stored, DbErr> {
    u.exec_with_returning(txn)
        .await?
        .into_iter()
        .next()
        .map(R::stored)
        .ok_or(DbErr::RecordNotUpdated)
}

/// Stores a new version of a locked row. `None` when the document did not change: no version,
/// no message (Okta re-sends unchanged resources often, and sends a group's rename along with
/// every membership update; those must stay cheap).
pub async fn update<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &Stored,
    doc: user::Doc,
) -> Result<Option<(Stored, Enqueued)>, ScimError> {
    let Some(stored) = store_row::<R>(txn, tenant, current, doc).await? else {
        return Ok(None);
    };
    let queued = outbox::enqueue(txn, &message::<R>(tenant, &stored, Operation::Updated)).await?;
    Ok(Some((stored, queued)))
}

/// The row part of [`update`], for a resource type that decides itself what its change sends.
pub async fn store_row<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &Stored,
    doc: user::Doc,
) -> Result<Option<Stored>, ScimError> {
    if current.doc == doc {
        return Ok(None);
    }
    let u = R::columns(&doc)
        .into_iter()
        .fold(change::<R>(tenant, current.meta.id, R::COUNTERS), |u, (c, v)| {
            u.col_expr(c, Expr::val(v))
        });
    Ok(Some(
        returning::<R>(txn, u).await.map_err(|e| R::write_err(e, &doc))?,
    ))
}

/// Turns a locked row into a tombstone, which frees its key and keeps its version sequence.
pub async fn delete<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &Stored,
) -> Result<Enqueued, DbErr> {
    let stored = tombstone::<R>(txn, tenant, current).await?;
    outbox::enqueue(txn, &message::<R>(tenant, &stored, Operation::Deleted)).await
}

/// The row part of [`delete`]; returns the tombstone.
pub async fn tombstone<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &Stored,
) -> Result<Stored, DbErr> {
    let u = R::tombstone().into_iter().fold(
        change::<R>(tenant, current.meta.id, R::COUNTERS).col_expr(R::DELETED_AT, Expr::current_timestamp()),
        |u, (c, v)| u.col_expr(c, Expr::val(v)),
    );
    returning::<R>(txn, u).await
}

/// One page of the tenant's live rows: filtered and sorted in Postgres, in a stable order (the
/// `sortBy` attribute if any, else creation time; then id); and the total. When the list is a
/// lookup by unique key (`userName eq`, `displayName eq`) on its first page, each row comes with
/// the value of `attach` over it (`super::page`), and the `bool` says so; any other list (a
/// filter, a page further on, a cursor walk) attaches nothing, and its caller reads apart what
/// it needs.
pub async fn list<R: Resource>(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    q: &Query<'_>,
    attach: Option<Expr>,
) -> Result<(Rows<(Stored, Option<serde_json::Value>)>, bool), ScimError> {
    let order = R::order(q.sort, q.scope)?;
    let sel = match q.filter {
        None => Selection::All,
        Some(f) => R::selection(f, q.scope)?,
    };
    let lookup = matches!(sel, Selection::Key(_)) && q.offset == 0 && q.seek.is_none();
    let attach = attach.filter(|_| lookup);
    let attached = attach.is_some();
    let rows = super::page(db, q, super::selection::<R>(tenant, sel), order, lookup, attach)
        .await?
        .map(|(model, value)| (R::stored(model), value));
    Ok((rows, attached))
}
