//! The two versioned pair tables a group's membership is made of: `scim.group_members` (group,
//! user) and `scim.group_children` (group, child group). One row per pair ever related, with the
//! pair's own `version` and a `member` flag. Every actual change bumps the pair's version and
//! enqueues one small message for that pair, so changing one member of a 200,000-member group
//! costs a few rows, never a rewrite of the group. Changes are set-based SQL over arrays of ids:
//! a hundred members are a few statements, not a hundred round trips.
//!
//! The writes are raw SQL (one upsert of an unnested array with a conditional conflict update,
//! `returning`), the same text for both tables.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};
use shared::db::stmt;
use shared::messages::{ChangeMessage, ChildGroupSnapshot, MembershipSnapshot, Operation, Resource};
use uuid::Uuid;

use crate::outbox::{self, Enqueued};

/// One of the two pair tables.
pub trait Pairs {
    /// Schema-qualified table.
    const TABLE: &'static str;
    /// The column naming the member (the group's is `group_id`).
    const OTHER: &'static str;
    /// What the product is told about one pair.
    fn snapshot(other: Uuid, member: bool) -> Resource;
}

/// `scim.group_members`: groups and their users.
pub struct Users;

impl Pairs for Users {
    const TABLE: &'static str = "scim.group_members";
    const OTHER: &'static str = "user_id";
    fn snapshot(user_id: Uuid, member: bool) -> Resource {
        Resource::Membership(MembershipSnapshot { user_id, member })
    }
}

/// `scim.group_children`: groups and their child groups.
pub struct Children;

impl Pairs for Children {
    const TABLE: &'static str = "scim.group_children";
    const OTHER: &'static str = "child_id";
    fn snapshot(child_id: Uuid, member: bool) -> Resource {
        Resource::ChildGroup(ChildGroupSnapshot { child_id, member })
    }
}

/// What a write returns of each pair it changed.
pub const RETURNING: &str = "returning m.group_id, m.version, m.member, m.updated_at";

/// One message per changed pair (rows of a statement ending in [`RETURNING`] plus the member
/// column); `resource_id` is the group, `version` the pair's.
pub fn messages<P: Pairs>(tenant: Uuid, rows: &[QueryResult]) -> Result<Vec<ChangeMessage>, DbErr> {
    rows.iter()
        .map(|r| {
            let group: Uuid = r.try_get("", "group_id")?;
            let other: Uuid = r.try_get("", P::OTHER)?;
            let version: i64 = r.try_get("", "version")?;
            let member: bool = r.try_get("", "member")?;
            let at: DateTime<FixedOffset> = r.try_get("", "updated_at")?;
            Ok(ChangeMessage::new(
                tenant,
                group,
                version,
                if member {
                    Operation::Created
                } else {
                    Operation::Deleted
                },
                at.to_utc(),
                P::snapshot(other, member),
            ))
        })
        .collect()
}

/// Makes `others` (already known to be live in the tenant) members of a locked group. A new pair
/// starts at version 1, a former member's pair moves on; current members are left alone (no
/// message).
pub async fn add<P: Pairs>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    others: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "insert into {table} as m (group_id, {other}, tenant_id, member, version, updated_at)
         select $1, o, $2, true, 1, now() from unnest($3::uuid[]) as o
         on conflict (group_id, {other}) do update
            set member = true, version = m.version + 1, updated_at = greatest(now(), m.updated_at)
            where not m.member
         {RETURNING}, m.{other}",
        table = P::TABLE,
        other = P::OTHER,
    );
    let rows = txn
        .query_all_raw(stmt(&sql, [group.into(), tenant.into(), others.to_vec().into()]))
        .await?;
    outbox::enqueue_many(txn, &messages::<P>(tenant, &rows)?).await
}

/// Ends the live pairs of a locked group whose member is (`keep` false) or is not (`keep` true)
/// among `others`: one statement, each pair's version moved on.
async fn leave<P: Pairs>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    others: &[Uuid],
    keep: bool,
) -> Result<Vec<Enqueued>, DbErr> {
    // Two texts, not a flag compared in SQL: removing one member of a large group must stay a
    // lookup by key.
    let which = if keep { "not " } else { "" };
    let sql = format!(
        "update {table} m
            set member = false, version = m.version + 1, updated_at = greatest(now(), m.updated_at)
         where m.group_id = $1 and m.member and {which}(m.{other} = any($2::uuid[]))
         {RETURNING}, m.{other}",
        table = P::TABLE,
        other = P::OTHER,
    );
    let rows = txn
        .query_all_raw(stmt(&sql, [group.into(), others.to_vec().into()]))
        .await?;
    outbox::enqueue_many(txn, &messages::<P>(tenant, &rows)?).await
}

/// Removes `others` from a locked group; those that are not members are left alone.
pub async fn remove<P: Pairs>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    others: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    if others.is_empty() {
        return Ok(Vec::new());
    }
    leave::<P>(txn, tenant, group, others, false).await
}

/// Removes every member of a locked group except `keep`: with [`add`], a replace of the whole
/// list that touches only the pairs that change.
pub async fn remove_all_except<P: Pairs>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    keep: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    leave::<P>(txn, tenant, group, keep, true).await
}
