//! Nested groups in the directory: a member that is a group of the tenant is a child group
//! (`scim.group_children`, written through `pairs`). Entra ID sends child groups as members of a
//! group; so may any IdP that pushes group membership as-is. The product gets each (parent, child)
//! pair as a message and keeps the effective membership (the worker's `nesting`).
//!
//! A cycle would make "the members of a group" infinite, so adding a child that reaches its
//! parent is refused, naming the cycle. Two requests could each add one edge of a cycle at once,
//! each seeing no cycle without the other's edge; so every request that adds a child group first
//! takes the tenant's nesting lock (a transaction-scoped advisory lock) and checks under it.
//! Requests that add none (nearly all) never take it.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use uuid::Uuid;

use super::memberships::{Key, Member};
use crate::error::ScimError;
use crate::scim::Kind;

/// Serialises the requests of one tenant that add child groups, until the transaction ends.
async fn lock(txn: &DatabaseTransaction, tenant: Uuid) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "select pg_advisory_xact_lock(hashtextextended('scim-relay nesting ' || $1::text, 0))",
        [tenant.into()],
    ))
    .await
    .map(|_| ())
}

/// Refuses to make `children` (live groups of the tenant) members of `parent` when one of them
/// is `parent` or reaches it through live child groups. Takes the tenant's nesting lock first.
pub async fn refuse_cycles(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    parent: Uuid,
    children: &[Uuid],
) -> Result<(), ScimError> {
    if children.is_empty() {
        return Ok(());
    }
    lock(txn, tenant).await?;
    // Raw: a recursive walk down the live edges from each child, carrying its path, stopping at
    // the parent.
    let found = txn
        .query_one_raw(stmt(
            "with recursive down(g, path) as (
                 select c, array[c] from unnest($2::uuid[]) as c
                 union all
                 select e.child_id, d.path || e.child_id
                 from down d
                 join scim.group_children e on e.group_id = d.g and e.member
                 join scim.groups cg on cg.id = e.child_id and cg.deleted_at is null
                 where d.g <> $1 and not e.child_id = any(d.path)
             )
             select path from down where g = $1 limit 1",
            [parent.into(), children.to_vec().into()],
        ))
        .await?;
    let Some(row) = found else {
        return Ok(());
    };
    let path: Vec<Uuid> = row.try_get_by_index(0)?;
    let names = display_names(txn, &[&[parent], path.as_slice()].concat()).await?;
    let name = |id: &Uuid| names.get(id).map_or_else(|| id.to_string(), |n| format!("'{n}'"));
    let cycle: Vec<String> = std::iter::once(&parent).chain(path.iter()).map(name).collect();
    let detail = if path.len() == 1 {
        format!(
            "group {} cannot be a member of itself; nothing was changed",
            name(&parent)
        )
    } else {
        format!(
            "adding group {} as a member of {} would make a cycle: {}; nothing was changed",
            name(&path[0]),
            name(&parent),
            cycle.join(" → ")
        )
    };
    Err(ScimError::invalid(Kind::InvalidValue, detail))
}

async fn display_names(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            "select id, display_name from scim.groups where id = any($1::uuid[])",
            [ids.to_vec().into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get_many_by_index::<(Uuid, String)>())
        .collect()
}

/// The live child groups of each group, by id, with their displayNames.
pub async fn of_groups(
    db: &impl ConnectionTrait,
    groups: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Member>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<Member>> = HashMap::new();
    if groups.is_empty() {
        return Ok(out);
    }
    let rows = db
        .query_all_raw(stmt(
            "select e.group_id, e.child_id, c.display_name
             from scim.group_children e join scim.groups c on c.id = e.child_id and c.deleted_at is null
             where e.group_id = any($1::uuid[]) and e.member
             order by e.group_id, e.child_id",
            [groups.to_vec().into()],
        ))
        .await?;
    for r in rows {
        let (group, child, name) = r.try_get_many_by_index::<(Uuid, Uuid, String)>()?;
        out.entry(group).or_default().push(Member {
            key: Key::Group(child),
            display: Some(name),
            sent_type: None,
        });
    }
    Ok(out)
}

/// How many live child groups each group has (groups without are absent).
pub async fn counts(db: &impl ConnectionTrait, groups: &[Uuid]) -> Result<HashMap<Uuid, i64>, DbErr> {
    if groups.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = db
        .query_all_raw(stmt(
            "select e.group_id, count(*)
             from scim.group_children e join scim.groups c on c.id = e.child_id and c.deleted_at is null
             where e.group_id = any($1::uuid[]) and e.member
             group by e.group_id",
            [groups.to_vec().into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get_many_by_index::<(Uuid, i64)>())
        .collect()
}
