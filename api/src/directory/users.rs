//! `scim.users`: reads and versioned writes. Each write bumps `version` under the row lock and
//! enqueues the change message in the same transaction, so the message order per user matches
//! the commit order and no committed change can miss its message.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};
use serde_json::Value;
use shared::db::{stmt, unique_violation};
use shared::messages::{ChangeMessage, Operation, Resource};
use uuid::Uuid;

use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::user::{self, Doc, Meta};

use super::{Query, Selection, in_tenant, sort_sql, user_filter};

#[derive(Debug, Clone)]
pub struct StoredUser {
    pub doc: Doc,
    pub meta: Meta,
}

const COLUMNS: &str = "id, resource, version, created_at, updated_at";

fn from_row(row: &QueryResult) -> Result<StoredUser, DbErr> {
    let resource: Value = row.try_get("", "resource")?;
    Ok(StoredUser {
        doc: match resource {
            Value::Object(m) => m,
            _ => Doc::new(),
        },
        meta: Meta {
            id: row.try_get("", "id")?,
            created: row.try_get::<DateTime<Utc>>("", "created_at")?,
            last_modified: row.try_get::<DateTime<Utc>>("", "updated_at")?,
            version: row.try_get("", "version")?,
            // Everything a GET shows of a user is in its row (its `groups` aside, see
            // `Meta::revision`), and every change to the row bumps the version.
            revision: row.try_get("", "version")?,
        },
    })
}

fn conflict(doc: &Doc) -> ScimError {
    ScimError::uniqueness(format!(
        "a user with userName '{}' already exists in this tenant (userNames are compared case-insensitively); \
         look it up with filter=userName eq \"...\" and update it instead",
        user::user_name(doc).unwrap_or_default()
    ))
}

fn map_write_err(e: DbErr, doc: &Doc) -> ScimError {
    match unique_violation(&e) {
        Some(c) if c.contains("user_name") => conflict(doc),
        _ => e.into(),
    }
}

fn message(tenant: Uuid, stored: &StoredUser, op: Operation) -> ChangeMessage {
    let snap = user::snapshot(&stored.doc, op == Operation::Deleted);
    ChangeMessage::new(
        tenant,
        stored.meta.id,
        stored.meta.version,
        op,
        stored.meta.last_modified,
        Resource::User(snap),
    )
}

/// `$1` tenant, `$2` id, then the columns derived from the document, in [`write`]'s order.
fn write_params(tenant: Uuid, id: Uuid, doc: &Doc) -> Vec<sea_orm::Value> {
    let user_name = user::user_name(doc).unwrap_or_default();
    vec![
        tenant.into(),
        id.into(),
        user_name.to_owned().into(),
        user::fold(user_name).into(),
        user::external_id(doc).map(str::to_owned).into(),
        user::active(doc).into(),
        Value::Object(doc.clone()).into(),
    ]
}

/// Runs an insert or update of one user row and returns the stored row.
async fn write(
    txn: &DatabaseTransaction,
    sql: &str,
    tenant: Uuid,
    id: Uuid,
    doc: &Doc,
) -> Result<StoredUser, ScimError> {
    let row = txn
        .query_one_raw(stmt(sql, write_params(tenant, id, doc)))
        .await
        .map_err(|e| map_write_err(e, doc))?
        .ok_or(DbErr::RecordNotUpdated)?;
    Ok(from_row(&row)?)
}

/// Creates a user and its change message in one statement: atomic without a transaction, so a
/// create costs one round trip to Postgres instead of four (begin, two inserts, commit). The
/// timestamps come from this clock (to the microsecond Postgres keeps), as the message carries
/// them before the row exists.
pub async fn insert(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    doc: Doc,
) -> Result<(StoredUser, Enqueued), ScimError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let planned = StoredUser {
        doc,
        meta: Meta {
            id,
            created: now,
            last_modified: now,
            version: 1,
            revision: 1,
        },
    };
    let out = outbox::Prepared::new(&message(tenant, &planned, Operation::Created));
    let mut values = write_params(tenant, id, &planned.doc);
    values.extend([
        now.into(),
        out.message.message_id.into(),
        out.message.routing_key.clone().into(),
        out.payload.clone().into(),
    ]);
    let sql = format!(
        "with u as (
             insert into scim.users (tenant_id, id, user_name, user_name_key, external_id, active, resource, version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)
             returning {COLUMNS}),
         o as (
             insert into scim.outbox (message_id, tenant_id, routing_key, payload)
             select $9, $1, $10, $11 from u
             returning id)
         select u.*, o.id as outbox_id from u, o"
    );
    let row = db
        .query_one_raw(stmt(&sql, values))
        .await
        .map_err(|e| map_write_err(e, &planned.doc))?
        .ok_or(DbErr::RecordNotInserted)?;
    let stored = from_row(&row)?;
    let queued = out.written(row.try_get("", "outbox_id")?);
    Ok((stored, queued))
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            &format!(
                "select {COLUMNS} from scim.users where id = {} and deleted_at is null",
                in_tenant("scim.users")
            ),
            [tenant.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Reads and locks a live user for the rest of the transaction.
pub async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "select {COLUMNS} from scim.users where id = {} and deleted_at is null for update",
                in_tenant("scim.users")
            ),
            [tenant.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores a new version of a locked user. `None` when nothing changed: no version, no message
/// (Okta re-sends unchanged resources often, and those must stay cheap).
pub async fn update(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredUser,
    doc: Doc,
) -> Result<Option<(StoredUser, Enqueued)>, ScimError> {
    if current.doc == doc {
        return Ok(None);
    }
    let sql = format!(
        "update scim.users set user_name = $3, user_name_key = $4, external_id = $5, active = $6,
                resource = $7, version = version + 1, updated_at = greatest(now(), updated_at)
         where id = {}
         returning {COLUMNS}",
        in_tenant("scim.users")
    );
    let stored = write(txn, &sql, tenant, current.meta.id, &doc).await?;
    let queued = outbox::enqueue(txn, &message(tenant, &stored, Operation::Updated)).await?;
    Ok(Some((stored, queued)))
}

/// Deletes a locked user: the directory keeps a tombstone (for re-deriving the product) and
/// frees the userName; the product keeps the row, inactive.
pub async fn delete(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredUser,
) -> Result<Enqueued, ScimError> {
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "update scim.users set deleted_at = now(), active = false, version = version + 1,
                        updated_at = greatest(now(), updated_at)
                 where id = {}
                 returning {COLUMNS}",
                in_tenant("scim.users")
            ),
            [tenant.into(), current.meta.id.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotUpdated)?;
    let stored = from_row(&row)?;
    Ok(outbox::enqueue(txn, &message(tenant, &stored, Operation::Deleted)).await?)
}

pub struct Page {
    pub total: i64,
    pub users: Vec<StoredUser>,
}

/// One page of a tenant's live users: filtered and sorted in Postgres, in a stable order (the
/// `sortBy` attribute if any, else creation time; then id).
pub async fn list(db: &impl ConnectionTrait, tenant: Uuid, q: &Query<'_>) -> Result<Page, ScimError> {
    let order = sort_sql::users(q.sort, q.scope)?;
    let sel = match q.filter {
        None => Selection::All,
        Some(f) => match user_filter::user_name_eq(f) {
            Some(key) => Selection::Key(key),
            None => Selection::Filter(user_filter::to_sql(f, 2, q.scope)?),
        },
    };
    let (base, values) = super::selection_sql("scim.users", "", "user_name_key", tenant, sel);
    let (total, rows) = super::page(db, q, COLUMNS, &base, &order, values).await?;
    let users = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Page { total, users })
}
