//! `scim.groups`: reads and versioned writes of groups, without their members (those are
//! `directory::memberships`). Like users, each write bumps `version` under the row lock and
//! enqueues the group's change message in the same transaction; an unchanged document writes
//! nothing, because Okta sends its rename operation along with every membership update.

use sea_orm::sea_query::{Expr, Query as Sql};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, EntityName, FromQueryResult, Value};
use shared::db::unique_violation;
use shared::entity::scim_group::{Column, Entity, Model};
use shared::messages::{Operation, Resource as Payload};
use uuid::Uuid;

use super::resource::{self, Col, Resource, Table};
use super::sort_sql::{self, Order};
use super::{Query, Scope, Selection, group_filter};
use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::Invalid;
use crate::scim::filter::Filter;
use crate::scim::group::{self, Doc};
use crate::scim::sort::Sort;

pub type StoredGroup = resource::Stored;

/// The groups of the directory, for the flow they share with users (`resource`).
pub struct Groups;

impl Table for Groups {
    type Entity = Entity;
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const KEY: Column = Column::DisplayNameKey;
    const DELETED_AT: Column = Column::DeletedAt;
    const UPDATED_AT: Column = Column::UpdatedAt;
    const COUNTERS: &'static [Column] = &[Column::Version, Column::Revision];
}

impl Resource for Groups {
    fn stored(m: Model) -> StoredGroup {
        StoredGroup::new(
            m.resource,
            m.id,
            m.created_at,
            m.updated_at,
            m.version,
            m.revision,
        )
    }

    fn payload(doc: &Doc, deleted: bool) -> Payload {
        Payload::Group(group::snapshot(doc, deleted))
    }

    fn columns(doc: &Doc) -> Vec<(Col<Self>, Value)> {
        let name = group::display_name(doc).unwrap_or_default();
        vec![
            (Column::DisplayName, name.into()),
            (Column::DisplayNameKey, group::fold(name).into()),
            (
                Column::ExternalId,
                group::external_id(doc).map(str::to_owned).into(),
            ),
            (Column::Resource, serde_json::Value::Object(doc.clone()).into()),
        ]
    }

    fn tombstone() -> Vec<(Col<Self>, Value)> {
        Vec::new()
    }

    fn write_err(e: DbErr, doc: &Doc) -> ScimError {
        match unique_violation(&e) {
            Some(c) if c.contains("display_name") => {
                let name = group::display_name(doc).unwrap_or_default();
                ScimError::uniqueness(format!(
                    "a group with displayName '{name}' already exists in this tenant (displayNames are \
                     compared case-insensitively); look it up with filter=displayName eq \"{name}\" and \
                     update it, or choose another name"
                ))
            }
            _ => e.into(),
        }
    }

    fn selection(f: &Filter, scope: Scope) -> Result<Selection, Invalid> {
        Ok(match group_filter::display_name_eq(f) {
            Some(key) => Selection::Key(key),
            None => Selection::Filter(group_filter::to_sql(f, scope)?),
        })
    }

    fn order(sort: Option<&Sort>, scope: Scope) -> Result<Order, Invalid> {
        sort_sql::groups(sort, scope)
    }
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    doc: Doc,
) -> Result<(StoredGroup, Enqueued), ScimError> {
    let mut values: Vec<(Column, Expr)> = vec![
        (Column::TenantId, Expr::val(tenant)),
        (Column::Id, Expr::val(Uuid::now_v7())),
        (Column::Version, Expr::val(1i64)),
        (Column::Revision, Expr::val(1i64)),
        (Column::CreatedAt, Expr::current_timestamp()),
        (Column::UpdatedAt, Expr::current_timestamp()),
    ];
    values.extend(Groups::columns(&doc).into_iter().map(|(c, v)| (c, Expr::val(v))));
    let (columns, exprs): (Vec<Column>, Vec<Expr>) = values.into_iter().unzip();
    let statement = Sql::insert()
        .into_table(Entity.table_ref())
        .columns(columns)
        .values_panic(exprs)
        .returning_all()
        .to_owned();
    let row = txn
        .query_one(&statement)
        .await
        .map_err(|e| Groups::write_err(e, &doc))?
        .ok_or(DbErr::RecordNotInserted)?;
    let stored = Groups::stored(Model::from_query_result(&row, "")?);
    let queued = outbox::enqueue(
        txn,
        &resource::message::<Groups>(tenant, &stored, Operation::Created),
    )
    .await?;
    Ok((stored, queued))
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
    resource::get::<Groups>(db, tenant, id).await
}

/// Reads and locks a live group for the rest of the transaction. Every write to the group and
/// to its memberships holds this lock, so they serialise per group.
pub async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
    resource::lock::<Groups>(txn, tenant, id).await
}

/// Stores a new version of a locked group. `None` when the document did not change.
pub async fn update(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredGroup,
    doc: Doc,
) -> Result<Option<(StoredGroup, Enqueued)>, ScimError> {
    resource::update::<Groups>(txn, tenant, current, doc).await
}

/// Moves `meta.lastModified` and the ETag of a locked group after a membership change. The
/// version stays: it versions the group's own message, and members travel in messages of their
/// own.
pub async fn touch(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<StoredGroup, DbErr> {
    resource::returning::<Groups>(txn, resource::change::<Groups>(tenant, id, &[Column::Revision])).await
}

/// Deletes a locked group: a tombstone frees the displayName and keeps the version sequence;
/// its membership rows stay as they are (the tombstone hides them, and the product drops a
/// deleted group's memberships with it), so no message per member is needed.
pub async fn delete(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredGroup,
) -> Result<Enqueued, DbErr> {
    resource::delete::<Groups>(txn, tenant, current).await
}

pub struct Page {
    pub total: i64,
    pub groups: Vec<StoredGroup>,
    /// Where a cursor walk goes on after this page.
    pub rest: crate::directory::Continuation,
}

/// One page of a tenant's live groups (see `resource::list`).
pub async fn list(db: &impl ConnectionTrait, tenant: Uuid, q: &Query<'_>) -> Result<Page, ScimError> {
    let (rows, _) = resource::list::<Groups>(db, tenant, q, None).await?;
    Ok(Page {
        total: rows.total,
        groups: rows.rows.into_iter().map(|(group, _)| group).collect(),
        rest: rows.rest,
    })
}
