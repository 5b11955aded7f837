//! `scim.users`: reads and versioned writes. Each write bumps `version` under the row lock and
//! enqueues the change message in the same transaction, so the message order per user matches
//! the commit order and no committed change can miss its message.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, Value};
use shared::db::{stmt, unique_violation};
use shared::entity::scim_user::{Column, Entity, Model};
use shared::messages::{ChangeMessage, Operation, Resource as Payload};
use uuid::Uuid;

use super::memberships::{self, GroupRef};
use super::resource::{self, Col, Resource, Table};
use super::sort_sql::{self, Order};
use super::user_batch::{Creates, Planned};
use super::{Query, Scope, Selection, user_filter};
use crate::deprovisioning::{self, UserChange};
use crate::error::ScimError;
use crate::events::{self, Recorded};
use crate::outbox::{self, Enqueued};
use crate::scim::Invalid;
use crate::scim::filter::Filter;
use crate::scim::sort::Sort;
use crate::scim::user::{self, Doc, Meta};

pub type StoredUser = resource::Stored;

/// The users of the directory, for the flow they share with groups (`resource`).
pub struct Users;

impl Table for Users {
    type Entity = Entity;
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const KEY: Column = Column::UserNameKey;
    const DELETED_AT: Column = Column::DeletedAt;
    const UPDATED_AT: Column = Column::UpdatedAt;
    const COUNTERS: &'static [Column] = &[Column::Version];
}

impl Resource for Users {
    fn stored(m: Model) -> StoredUser {
        // Everything a GET shows of a user is in its row (its `groups` aside, see
        // `Meta::revision`), and every change to the row bumps the version.
        StoredUser::new(m.resource, m.id, m.created_at, m.updated_at, m.version, m.version)
    }

    fn payload(doc: &Doc, deleted: bool) -> Payload {
        // Under the tenant's mapping of attributes into the product, as in force for the request.
        Payload::User(shared::domain::user::snapshot_mapped(
            doc,
            deleted,
            &crate::tenant_schemas::mapping(),
        ))
    }

    /// `row_json` says the same for a statement of many creates: change both together.
    fn columns(doc: &Doc) -> Vec<(Col<Self>, Value)> {
        let user_name = user::user_name(doc).unwrap_or_default();
        vec![
            (Column::UserName, user_name.into()),
            (Column::UserNameKey, user::fold(user_name).into()),
            (
                Column::ExternalId,
                user::external_id(doc).map(str::to_owned).into(),
            ),
            (Column::Active, user::active(doc).into()),
            (Column::Resource, serde_json::Value::Object(doc.clone()).into()),
        ]
    }

    fn tombstone() -> Vec<(Col<Self>, Value)> {
        vec![(Column::Active, false.into())]
    }

    fn write_err(e: DbErr, doc: &Doc) -> ScimError {
        match unique_violation(&e) {
            Some(c) if c.contains("user_name") => ScimError::uniqueness(format!(
                "a user with userName '{}' already exists in this tenant (userNames are compared \
                 case-insensitively); look it up with filter=userName eq \"...\" and update it instead",
                user::user_name(doc).unwrap_or_default()
            )),
            _ => e.into(),
        }
    }

    fn selection(f: &Filter, scope: Scope) -> Result<Selection, Invalid> {
        Ok(match user_filter::user_name_eq(f) {
            Some(key) => Selection::Key(key),
            None => Selection::Filter(user_filter::to_sql(f, scope)?),
        })
    }

    fn order(sort: Option<&Sort>, scope: Scope) -> Result<Order, Invalid> {
        sort_sql::users(sort, scope)
    }
}

/// Raw: a data-modifying CTE (user, outbox and event rows in one statement) has no builder form.
/// Assembled once: its text never changes.
static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    with_message(
        "insert into scim.users (tenant_id, id, user_name, user_name_key, external_id, active, resource, version, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)
         returning *",
        9,
    )
});

/// A statement that writes a user (`u`, returning its row, the tenant being `$1`) and, only if
/// it wrote one, the change message and the event: `u`'s parameters come first, then from
/// `$first` on the message's three and the event's (see [`write`]).
fn with_message(u: &str, first: usize) -> String {
    format!(
        "with u as ({u}),
         o as (
             insert into scim.outbox (message_id, tenant_id, routing_key, payload)
             select ${first}, $1, ${}, ${} from u
             returning id),
         {}
         select u.*, o.id as outbox_id, exists (select 1 from e) as evented from u, o",
        first + 1,
        first + 2,
        events::log::cte("e", first + 3, 1, "u")
    )
}

/// Runs a statement of [`with_message`] with `values` (`u`'s parameters) and the message and
/// event of `planned`: the user as stored, its message as written and whether an event row was;
/// `None` when `u` wrote no row.
async fn write(
    db: &impl ConnectionTrait,
    sql: &str,
    mut values: Vec<Value>,
    tenant: Uuid,
    planned: &StoredUser,
    out: outbox::Prepared,
    event: Recorded,
) -> Result<Option<(StoredUser, Enqueued, bool)>, ScimError> {
    values.extend([
        out.message.message_id.into(),
        out.message.routing_key.clone().into(),
        out.payload.clone().into(),
    ]);
    values.extend(events::log::cte_values(tenant, &event));
    let Some(row) = db
        .query_one_raw(stmt(sql, values))
        .await
        .map_err(|e| Users::write_err(e, &planned.doc))?
    else {
        return Ok(None);
    };
    let stored = Users::stored(Model::from_query_result(&row, "")?);
    let queued = out.written(row.try_get("", "outbox_id")?);
    Ok(Some((stored, queued, row.try_get("", "evented")?)))
}

/// A new user as it will be stored, and its change message. The timestamps come from this
/// clock (to the microsecond Postgres keeps), as the message carries them before the row exists.
fn plan(tenant: Uuid, doc: Doc) -> (StoredUser, outbox::Prepared) {
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
    let out = outbox::Prepared::new(&resource::message::<Users>(tenant, &planned, Operation::Created));
    (planned, out)
}

/// Creates a user and its change message in one statement: atomic without a transaction, so a
/// create costs one round trip to Postgres instead of four (begin, two inserts, commit).
pub async fn insert(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    doc: Doc,
    event: impl FnOnce(&StoredUser) -> Recorded,
) -> Result<(StoredUser, Enqueued, bool), ScimError> {
    let (planned, out) = plan(tenant, doc);
    let mut values: Vec<Value> = vec![tenant.into(), planned.meta.id.into()];
    values.extend(Users::columns(&planned.doc).into_iter().map(|(_, v)| v));
    values.push(planned.meta.created.into());
    let event = event(&planned);
    Ok(write(db, &INSERT, values, tenant, &planned, out, event)
        .await?
        .ok_or(DbErr::RecordNotInserted)?)
}

/// Creates a user as [`insert`] does, in one statement with the other creates waiting then
/// (`user_batch`); one that statement did not write is written on its own, so that it gets
/// exactly the answer it would have got alone (a taken userName is a 409 here, as there).
pub async fn insert_coalesced(
    db: &impl ConnectionTrait,
    creates: &Creates,
    tenant: Uuid,
    doc: Doc,
    event: impl Fn(&StoredUser) -> Recorded,
) -> Result<(StoredUser, Enqueued, bool), ScimError> {
    let (stored, out) = plan(tenant, doc.clone());
    let planned = Planned {
        row: row_json(&stored.doc),
        event: events::log::json(tenant, &event(&stored)),
        stored,
        out,
    };
    match creates.write(planned).await {
        Some(done) => Ok(done),
        None => insert(db, tenant, doc, event).await,
    }
}

/// [`Users::columns`] as the JSON a statement of many creates takes.
fn row_json(doc: &Doc) -> serde_json::Value {
    let user_name = user::user_name(doc).unwrap_or_default();
    serde_json::json!({
        "user_name": user_name,
        "user_name_key": user::fold(user_name),
        "external_id": user::external_id(doc),
        "active": user::active(doc),
        "resource": doc,
    })
}

/// Raw, as [`INSERT`]: the update applies only to the version read, so that the outbox row and
/// the event, whose contents were worked out from that version, cannot follow any other.
static UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    with_message(
        "update scim.users set user_name = $3, user_name_key = $4, external_id = $5, active = $6,
             resource = $7, updated_at = $8, version = version + 1
         where tenant_id = $1 and id = $2 and deleted_at is null and version = $9
         returning *",
        10,
    )
});

/// Stores `doc` as the next version of `current`, read without a lock, with its change message
/// and event in one statement: two round trips for a PATCH or PUT (the read and this) instead
/// of six (begin, lock, update, outbox, event, commit). `None` when the user is no longer at
/// `current`'s version (changed or deleted meanwhile): nothing was written, and the caller reads
/// again. Only for a change the deprovisioning guard lets through without looking (an active
/// user staying active, see `deprovisioning::pass`); the rest take the transaction.
pub async fn update_at_once(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    current: &StoredUser,
    doc: Doc,
    event: impl FnOnce(&StoredUser) -> Recorded,
) -> Result<Option<(StoredUser, Enqueued, bool)>, ScimError> {
    // As the transaction's `greatest(now(), updated_at)`: never back, whatever the clocks do.
    let now = Utc::now();
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let planned = StoredUser {
        doc,
        meta: Meta {
            last_modified: now.max(current.meta.last_modified),
            version: current.meta.version + 1,
            revision: current.meta.version + 1,
            ..current.meta
        },
    };
    let out = outbox::Prepared::new(&resource::message::<Users>(tenant, &planned, Operation::Updated));
    let mut values: Vec<Value> = vec![tenant.into(), current.meta.id.into()];
    values.extend(Users::columns(&planned.doc).into_iter().map(|(_, v)| v));
    values.extend([planned.meta.last_modified.into(), current.meta.version.into()]);
    let event = event(&planned);
    write(db, &UPDATE, values, tenant, &planned, out, event).await
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
    resource::get::<Users>(db, tenant, id).await
}

/// A live user and its groups ([`memberships::groups_column`]; absent when it has none), in
/// one statement.
pub async fn get_with_groups(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<(StoredUser, HashMap<Uuid, Vec<GroupRef>>)>, DbErr> {
    let attach = memberships::groups_column();
    let Some((user, column)) = resource::get_attached::<Users>(db, tenant, id, attach).await? else {
        return Ok(None);
    };
    let groups = memberships::groups_by_user([(user.meta.id, column)])?;
    Ok(Some((user, groups)))
}

/// Reads and locks a live user for the rest of the transaction.
pub async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
    resource::lock::<Users>(txn, tenant, id).await
}

/// Stores a new version of a locked user. `None` when nothing changed: no version, no message.
/// What reaches the product is the deprovisioning guard's to say (`deprovisioning`): the
/// messages returned are the ones written to the outbox.
pub async fn update(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredUser,
    doc: Doc,
) -> Result<Option<(StoredUser, Vec<Enqueued>)>, ScimError> {
    let Some(stored) = resource::store_row::<Users>(txn, tenant, current, doc).await? else {
        return Ok(None);
    };
    let msg = resource::message::<Users>(tenant, &stored, Operation::Updated);
    let send = deprovisioning::pass(txn, tenant, guarded(current, &stored, false, vec![msg])).await?;
    Ok(Some((stored, outbox::enqueue_many(txn, &send).await?)))
}

/// Deletes a locked user: the directory keeps a tombstone (for re-deriving the product) and
/// frees the userName. `left` are the messages of the user's removal from its groups, made by
/// the caller in the same transaction: they travel with the delete, and the guard holds them
/// with it. The product keeps the row, inactive, once the guard lets the delete through.
pub async fn delete(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: &StoredUser,
    left: Vec<ChangeMessage>,
) -> Result<Vec<Enqueued>, ScimError> {
    let stored = resource::tombstone::<Users>(txn, tenant, current).await?;
    let mut msgs = vec![resource::message::<Users>(tenant, &stored, Operation::Deleted)];
    msgs.extend(left);
    let send = deprovisioning::pass(txn, tenant, guarded(current, &stored, true, msgs)).await?;
    Ok(outbox::enqueue_many(txn, &send).await?)
}

/// A change from `before` to `after` as the deprovisioning guard weighs it.
fn guarded(
    before: &StoredUser,
    after: &StoredUser,
    deleted: bool,
    messages: Vec<ChangeMessage>,
) -> UserChange {
    UserChange {
        user: before.meta.id,
        user_name: user::user_name(&before.doc).unwrap_or_default().to_owned(),
        external_id: user::external_id(&after.doc).map(str::to_owned),
        was_active: user::active(&before.doc),
        now_active: !deleted && user::active(&after.doc),
        deleted,
        version: after.meta.version,
        messages,
    }
}

pub struct Page {
    pub total: i64,
    pub users: Vec<StoredUser>,
    /// Their groups, read with them when the list was asked `with_groups` and is a lookup
    /// (users in no group are absent; `None`: not read).
    pub groups: Option<HashMap<Uuid, Vec<GroupRef>>>,
    /// Where a cursor walk goes on after this page.
    pub rest: crate::directory::Continuation,
}

/// One page of a tenant's live users (see `resource::list`), with their groups if asked and the
/// list is a lookup: in the same statement, which is every IdP lookup's one round trip.
/// Otherwise `groups` is `None`, and the caller reads them apart.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    q: &Query<'_>,
    with_groups: bool,
) -> Result<Page, ScimError> {
    let attach = with_groups.then(memberships::groups_column);
    let (rows, attached) = resource::list::<Users>(db, tenant, q, attach).await?;
    let (users, columns): (Vec<StoredUser>, Vec<_>) = rows.rows.into_iter().unzip();
    let groups = if attached {
        Some(memberships::groups_by_user(
            users.iter().map(|u| u.meta.id).zip(columns),
        )?)
    } else {
        None
    };
    Ok(Page {
        total: rows.total,
        users,
        groups,
        rest: rows.rest,
    })
}

/// The display names of the tenant's live users among `ids` (absent: no such user), for the
/// `manager.displayName` a user's representation derives from its manager.
pub async fn display_names(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Option<String>>, DbErr> {
    use sea_orm::sea_query::extension::postgres::{PgExpr, PgFunc};
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(Uuid, Option<String>)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .expr(Expr::col(Column::Resource).cast_json_field("displayName"))
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::DeletedAt.is_null())
        .filter(Expr::col(Column::Id).eq(PgFunc::any(Expr::val(ids.to_vec()))))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
