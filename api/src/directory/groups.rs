//! `scim.groups`: reads and versioned writes of groups, without their members (those are
//! `directory::memberships`). Like users, each write bumps `version` under the row lock and
//! enqueues the group's change message in the same transaction; an unchanged document writes
//! nothing, because Okta sends its rename operation along with every membership update.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};
use serde_json::Value;
use shared::db::{stmt, unique_violation};
use shared::messages::{ChangeMessage, Operation, Resource};
use uuid::Uuid;

use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::group::{self, Doc};
use crate::scim::meta::Meta;

use super::{Query, Selection, group_filter, in_tenant, sort_sql};

#[derive(Debug, Clone)]
pub struct StoredGroup {
    pub doc: Doc,
    pub meta: Meta,
}

const COLUMNS: &str = "g.id, g.resource, g.version, g.revision, g.created_at, g.updated_at";

fn from_row(row: &QueryResult) -> Result<StoredGroup, DbErr> {
    let resource: Value = row.try_get("", "resource")?;
    Ok(StoredGroup {
        doc: match resource {
            Value::Object(m) => m,
            _ => Doc::new(),
        },
        meta: Meta {
            id: row.try_get("", "id")?,
            created: row.try_get::<DateTime<Utc>>("", "created_at")?,
            last_modified: row.try_get::<DateTime<Utc>>("", "updated_at")?,
            version: row.try_get("", "version")?,
            revision: row.try_get("", "revision")?,
        },
    })
}

fn map_write_err(e: DbErr, doc: &Doc) -> ScimError {
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

fn message(tenant: Uuid, stored: &StoredGroup, op: Operation) -> ChangeMessage {
    ChangeMessage::new(
        tenant,
        stored.meta.id,
        stored.meta.version,
        op,
        stored.meta.last_modified,
        Resource::Group(group::snapshot(&stored.doc, op == Operation::Deleted)),
    )
}

/// Runs an insert or update of one group row (`$1` tenant, `$2` id, then the columns derived
/// from the document) and returns the stored row.
async fn write(
    txn: &DatabaseTransaction,
    sql: &str,
    tenant: Uuid,
    id: Uuid,
    doc: &Doc,
) -> Result<StoredGroup, ScimError> {
    let name = group::display_name(doc).unwrap_or_default();
    let values: Vec<sea_orm::Value> = vec![
        tenant.into(),
        id.into(),
        name.to_owned().into(),
        group::fold(name).into(),
        group::external_id(doc).map(str::to_owned).into(),
        Value::Object(doc.clone()).into(),
    ];
    let row = txn
        .query_one_raw(stmt(sql, values))
        .await
        .map_err(|e| map_write_err(e, doc))?
        .ok_or(DbErr::RecordNotUpdated)?;
    Ok(from_row(&row)?)
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    doc: Doc,
) -> Result<(StoredGroup, Enqueued), ScimError> {
    let sql = format!(
        "insert into scim.groups as g (tenant_id, id, display_name, display_name_key, external_id, resource, version, revision, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, 1, 1, now(), now())
         returning {COLUMNS}"
    );
    let stored = write(txn, &sql, tenant, Uuid::now_v7(), &doc).await?;
    let queued = outbox::enqueue(txn, &message(tenant, &stored, Operation::Created)).await?;
    Ok((stored, queued))
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            &format!(
                "select {COLUMNS} from scim.groups g where g.id = {} and g.deleted_at is null",
                in_tenant("scim.groups")
            ),
            [tenant.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Reads and locks a live group for the rest of the transaction. Every write to the group and
/// to its memberships holds this lock, so they serialise per group.
pub async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "select {COLUMNS} from scim.groups g where g.id = {} and g.deleted_at is null for update",
                in_tenant("scim.groups")
            ),
            [tenant.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores a new version of a locked group. `None` when the document did not change: no
/// version, no message.
pub async fn update(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredGroup,
    doc: Doc,
) -> Result<Option<(StoredGroup, Enqueued)>, ScimError> {
    if current.doc == doc {
        return Ok(None);
    }
    let sql = format!(
        "update scim.groups g set display_name = $3, display_name_key = $4, external_id = $5, resource = $6,
                version = g.version + 1, revision = g.revision + 1, updated_at = greatest(now(), g.updated_at)
         where g.id = {}
         returning {COLUMNS}",
        in_tenant("scim.groups")
    );
    let stored = write(txn, &sql, tenant, current.meta.id, &doc).await?;
    let queued = outbox::enqueue(txn, &message(tenant, &stored, Operation::Updated)).await?;
    Ok(Some((stored, queued)))
}

/// Moves `meta.lastModified` and the ETag of a locked group after a membership change. The
/// version stays: it versions the group's own message, and members travel in messages of their
/// own.
pub async fn touch(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<StoredGroup, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "update scim.groups g set updated_at = greatest(now(), g.updated_at), revision = g.revision + 1
                 where g.id = {}
                 returning {COLUMNS}",
                in_tenant("scim.groups")
            ),
            [tenant.into(), id.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotUpdated)?;
    from_row(&row)
}

/// Deletes a locked group: a tombstone frees the displayName and keeps the version sequence;
/// its membership rows stay as they are (the tombstone hides them, and the product drops a
/// deleted group's memberships with it), so no message per member is needed.
pub async fn delete(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredGroup,
) -> Result<Enqueued, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "update scim.groups g set deleted_at = now(), version = g.version + 1, revision = g.revision + 1,
                        updated_at = greatest(now(), g.updated_at)
                 where g.id = {}
                 returning {COLUMNS}",
                in_tenant("scim.groups")
            ),
            [tenant.into(), current.meta.id.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotUpdated)?;
    let stored = from_row(&row)?;
    outbox::enqueue(txn, &message(tenant, &stored, Operation::Deleted)).await
}

pub struct Page {
    pub total: i64,
    pub groups: Vec<StoredGroup>,
}

/// One page of a tenant's live groups: filtered and sorted in Postgres, in a stable order (the
/// `sortBy` attribute if any, else creation time; then id).
pub async fn list(db: &impl ConnectionTrait, tenant: Uuid, q: &Query<'_>) -> Result<Page, ScimError> {
    let order = sort_sql::groups(q.sort, q.scope)?;
    let sel = match q.filter {
        None => Selection::All,
        Some(f) => match group_filter::display_name_eq(f) {
            Some(key) => Selection::Key(key),
            None => Selection::Filter(group_filter::to_sql(f, 2, q.scope)?),
        },
    };
    let (base, values) = super::selection_sql("scim.groups", "g", "display_name_key", tenant, sel);
    let (total, rows) = super::page(db, q, COLUMNS, &base, &order, values).await?;
    let groups = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Page { total, groups })
}
