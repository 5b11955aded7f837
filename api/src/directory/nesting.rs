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
    // Raw: a recursive walk down the live edges from the children. `union` visits each group
    // once, so the walk is linear in the edges below them, however many paths a tenant's groups
    // make (a walk carrying its path would enumerate every path: exponential in a layered graph).
    const BELOW: &str = "with recursive down(g) as (
             select c from unnest($2::uuid[]) as c
             union
             select e.child_id
             from down d
             join scim.group_children e on e.group_id = d.g and e.member
             join scim.groups cg on cg.id = e.child_id and cg.deleted_at is null
             where d.g <> $1
         )";
    let reached = txn
        .query_one_raw(stmt(
            &format!("{BELOW} select exists (select 1 from down where g = $1)"),
            [parent.into(), children.to_vec().into()],
        ))
        .await?
        .map(|r| r.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false);
    if !reached {
        return Ok(());
    }
    // A cycle: name one, found in memory over the edges below the children.
    let edges: Vec<(Uuid, Uuid)> = txn
        .query_all_raw(stmt(
            &format!(
                "{BELOW}
                 select e.group_id, e.child_id from down
                 join scim.group_children e on e.group_id = down.g and e.member
                 join scim.groups cg on cg.id = e.child_id and cg.deleted_at is null
                 where down.g <> $1"
            ),
            [parent.into(), children.to_vec().into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_many_by_index::<(Uuid, Uuid)>())
        .collect::<Result<_, _>>()?;
    let path = path_to(parent, children, &edges);
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

/// The shortest path from one of `children` down to `parent` over `edges`, children first (the
/// caller knows there is one).
fn path_to(parent: Uuid, children: &[Uuid], edges: &[(Uuid, Uuid)]) -> Vec<Uuid> {
    let mut below: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for &(g, c) in edges {
        below.entry(g).or_default().push(c);
    }
    let mut came_from: HashMap<Uuid, Option<Uuid>> = children.iter().map(|&c| (c, None)).collect();
    let mut queue: std::collections::VecDeque<Uuid> = children.iter().copied().collect();
    while let Some(g) = queue.pop_front() {
        if g == parent {
            let mut path = vec![g];
            let mut at = g;
            while let Some(Some(prev)) = came_from.get(&at) {
                path.push(*prev);
                at = *prev;
            }
            path.reverse();
            return path;
        }
        for &c in below.get(&g).into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(c) {
                e.insert(Some(g));
                queue.push_back(c);
            }
        }
    }
    vec![parent]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_that_closes_a_cycle_is_the_shortest_one() {
        let [top, mid, low, side] = [0; 4].map(|_| Uuid::now_v7());
        // Adding `top` under `low`: top → mid → low, and a longer way round through `side`.
        let edges = [(top, side), (side, mid), (top, mid), (mid, low)];
        assert_eq!(path_to(low, &[top], &edges), vec![top, mid, low]);
        // A group added to itself.
        assert_eq!(path_to(top, &[top], &[]), vec![top]);
    }
}
