//! Nested groups in the product: `product.group_children` (the edges whose two groups are in the
//! product, ledger `product.nesting_versions`) and `product.group_effective_members`, the
//! transitive closure: (G, U) for every user U that is a direct member of G or of any group
//! below G.
//!
//! # Incremental upkeep
//! Every change writes only the closure rows that change:
//! - a user joining G, or an edge P→C appearing: [`spread`] inserts the user (every effective
//!   member of C) into G (P) and every ancestor, `on conflict do nothing`;
//! - a user leaving G, or an edge P→C going: [`prune`] looks at exactly those users in G (P)
//!   and its ancestors, and deletes a row only where no other path still holds the user there
//!   (no direct membership in any group below).
//!
//! Both walk the edges with a recursive query; in a tenant without nesting that walk finds no
//! edge and the closure is the direct membership.
//!
//! # Serialisation
//! The closure of G depends on edges and memberships far from G, which the key locks (one group,
//! one user) do not cover. So in a tenant that has ever nested a group (`product.nested_tenants`,
//! set by the first edge), every change to memberships, edges or groups takes the tenant's
//! nesting lock after its key locks, and these changes apply one at a time per tenant. A tenant
//! that never nested keeps today's parallelism: there a group's closure is its own members,
//! and the key lock on the group already serialises every change to it (an edge's apply locks
//! both its groups' keys before it marks the tenant).

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use shared::messages::{ChangeMessage, ChildGroupSnapshot};
use uuid::Uuid;

use crate::key_locks;
use crate::outcome::Outcome;
use crate::roles::{self, Target};

/// Where closure changes start from.
#[derive(Clone, Copy)]
pub enum Seed {
    /// (group, user) pairs: direct memberships that began or ended.
    Pairs,
    /// (parent, child) edges: every effective member of the child, in the parent.
    Edges,
}

impl Seed {
    fn sql(self) -> &'static str {
        match self {
            Seed::Pairs => "select g, u from unnest($1::uuid[], $2::uuid[]) as w(g, u)",
            Seed::Edges => {
                "select w.p, x.user_id from unnest($1::uuid[], $2::uuid[]) as w(p, c)
                 join product.group_effective_members x on x.group_id = w.c"
            }
        }
    }
}

/// Takes the nesting lock of each of `tenants` that has ever nested a group, in one global
/// order. Called after the change's key locks.
pub async fn lock_nested(txn: &DatabaseTransaction, tenants: &[Uuid]) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "select count(pg_advisory_xact_lock(k)) from (
             select hashtextextended('product nesting ' || tenant_id::text, 0) as k
             from product.nested_tenants where tenant_id = any($1::uuid[]) order by k
         ) as nested",
        [tenants.to_vec().into()],
    ))
    .await
    .map(|_| ())
}

/// Adds to the closure what `seeds` start: each seed (group, user) and the same user in every
/// ancestor of the group. Returns how many closure rows were written.
pub async fn spread(txn: &DatabaseTransaction, seed: Seed, a: Vec<Uuid>, b: Vec<Uuid>) -> Result<u64, DbErr> {
    if a.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "with recursive up(g, u) as (
             {seed}
             union
             select e.group_id, up.u from product.group_children e join up on e.child_id = up.g
         )
         insert into product.group_effective_members (group_id, user_id)
         select g, u from up
         on conflict do nothing",
        seed = seed.sql()
    );
    Ok(txn
        .execute_raw(stmt(&sql, [a.into(), b.into()]))
        .await?
        .rows_affected())
}

/// Removes from the closure what no longer holds after `seeds` ended: each seed (group, user)
/// and the same user in every ancestor, unless the user is still a direct member of some group
/// at or below it. Returns how many closure rows were deleted.
pub async fn prune(txn: &DatabaseTransaction, seed: Seed, a: Vec<Uuid>, b: Vec<Uuid>) -> Result<u64, DbErr> {
    if a.is_empty() {
        return Ok(0);
    }
    // `holders`: every group that still holds a candidate user, walking up from the user's
    // direct memberships.
    let sql = format!(
        "with recursive scope(g, u) as (
             {seed}
             union
             select e.group_id, s.u from product.group_children e join scope s on e.child_id = s.g
         ),
         candidates as (select distinct u from scope),
         holders(g, u) as (
             select m.group_id, m.user_id from product.group_members m join candidates c on m.user_id = c.u
             union
             select e.group_id, h.u from product.group_children e join holders h on e.child_id = h.g
         )
         delete from product.group_effective_members x using scope s
         where x.group_id = s.g and x.user_id = s.u
           and not exists (select 1 from holders h where h.g = s.g and h.u = s.u)",
        seed = seed.sql()
    );
    Ok(txn
        .execute_raw(stmt(&sql, [a.into(), b.into()]))
        .await?
        .rows_affected())
}

/// Applies one (parent, child) edge change: the ledger first (an older or repeated message is
/// stale), then the edge and the closure, where both groups are in the product (otherwise the
/// ledger keeps the edge until the missing group arrives, see [`materialise_for_group`]).
pub async fn apply_edge(
    txn: &DatabaseTransaction,
    msg: &ChangeMessage,
    edge: &ChildGroupSnapshot,
) -> Result<Outcome, DbErr> {
    let (tenant, parent, child) = (msg.tenant_id, msg.resource_id, edge.child_id);
    key_locks::lock(
        txn,
        vec![(tenant, parent.to_string()), (tenant, child.to_string())],
    )
    .await?;
    txn.execute_raw(stmt(
        "insert into product.nested_tenants (tenant_id) values ($1) on conflict do nothing",
        [tenant.into()],
    ))
    .await?;
    lock_nested(txn, &[tenant]).await?;
    let written = txn
        .execute_raw(stmt(
            "insert into product.nesting_versions as v (group_id, child_id, tenant_id, version, member)
             values ($1, $2, $3, $4, $5)
             on conflict (group_id, child_id) do update set version = excluded.version, member = excluded.member
             where v.version < excluded.version and v.tenant_id = excluded.tenant_id",
            [
                parent.into(),
                child.into(),
                tenant.into(),
                msg.version.into(),
                edge.member.into(),
            ],
        ))
        .await?
        .rows_affected();
    if written == 0 {
        return Ok(Outcome::Stale);
    }
    let rows = if edge.member {
        // Only where both groups are in the product, in this tenant.
        txn.execute_raw(stmt(
            "insert into product.group_children (group_id, child_id)
             select p.id, c.id from product.groups p, product.groups c
             where p.id = $1 and c.id = $2 and p.tenant_id = $3 and c.tenant_id = $3
             on conflict do nothing",
            [parent.into(), child.into(), tenant.into()],
        ))
        .await?
        .rows_affected()
    } else {
        txn.execute_raw(stmt(
            "delete from product.group_children where group_id = $1 and child_id = $2",
            [parent.into(), child.into()],
        ))
        .await?
        .rows_affected()
    };
    if rows > 0 {
        let closure = if edge.member {
            spread(txn, Seed::Edges, vec![parent], vec![child]).await?
        } else {
            prune(txn, Seed::Edges, vec![parent], vec![child]).await?
        };
        // The child's effective members gained or lost the parent and its ancestors.
        let roles = roles::rederive_if_mapped(txn, tenant, Target::GroupMembers(vec![child])).await?;
        tracing::debug!(tenant_id = %tenant, group_id = %parent, child_id = %child, member = edge.member, closure, roles, "child group applied");
    }
    Ok(Outcome::Applied)
}

/// A group that just arrived in the product: its edges that waited in the ledger for it (where
/// the other group is present), and its closure (its direct members, already materialised, and
/// its children's effective members, in it and every ancestor).
pub async fn materialise_for_group(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "insert into product.group_children (group_id, child_id)
         select v.group_id, v.child_id from product.nesting_versions v
         join product.groups p on p.id = v.group_id and p.tenant_id = v.tenant_id
         join product.groups c on c.id = v.child_id and c.tenant_id = v.tenant_id
         where (v.group_id = $1 or v.child_id = $1) and v.tenant_id = $2 and v.member
         on conflict do nothing",
        [group.into(), tenant.into()],
    ))
    .await?;
    let direct: Vec<Uuid> = txn
        .query_all_raw(stmt(
            "select user_id from product.group_members where group_id = $1",
            [group.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    spread(txn, Seed::Pairs, vec![group; direct.len()], direct).await?;
    let children: Vec<Uuid> = txn
        .query_all_raw(stmt(
            "select child_id from product.group_children where group_id = $1",
            [group.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    spread(txn, Seed::Edges, vec![group; children.len()], children).await?;
    Ok(())
}

/// Before a group leaves the product: its parents lose what they held only through it. Its own
/// rows (members, closure, edges) then go with it (`on delete cascade`).
pub async fn detach_group(txn: &DatabaseTransaction, group: Uuid) -> Result<(), DbErr> {
    let parents: Vec<Uuid> = txn
        .query_all_raw(stmt(
            "delete from product.group_children where child_id = $1 returning group_id",
            [group.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    let n = parents.len();
    prune(txn, Seed::Edges, parents, vec![group; n]).await?;
    Ok(())
}

/// Reconcile: makes the tenant's edge ledger and edges exactly the directory's, then the
/// closure exactly what the edges and direct memberships give; returns how many edge and
/// closure rows it added or removed.
pub async fn reconcile(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    edges: &[crate::expected::ExpectedEdge],
) -> Result<u64, DbErr> {
    let (mut p, mut c, mut v, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in edges {
        p.push(e.group_id);
        c.push(e.child_id);
        v.push(e.version);
        m.push(e.member);
    }
    if !edges.is_empty() {
        db.execute_raw(stmt(
            "insert into product.nested_tenants (tenant_id) values ($1) on conflict do nothing",
            [tenant.into()],
        ))
        .await?;
    }
    db.execute_raw(stmt(
        "insert into product.nesting_versions as v (group_id, child_id, tenant_id, version, member)
         select p, c, $1, v, m from unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::bool[]) as t(p, c, v, m)
         on conflict (group_id, child_id) do update set version = excluded.version, member = excluded.member
         where v.tenant_id = excluded.tenant_id and (v.version, v.member) is distinct from (excluded.version, excluded.member)",
        [tenant.into(), p.into(), c.into(), v.into(), m.into()],
    ))
    .await?;
    let mut changed = db
        .execute_raw(stmt(
            "delete from product.group_children pc using product.groups pg
             where pc.group_id = pg.id and pg.tenant_id = $1
               and not exists (select 1 from product.nesting_versions v
                               where v.group_id = pc.group_id and v.child_id = pc.child_id and v.member)",
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    changed += db
        .execute_raw(stmt(
            "insert into product.group_children (group_id, child_id)
             select v.group_id, v.child_id from product.nesting_versions v
             join product.groups p on p.id = v.group_id and p.tenant_id = v.tenant_id
             join product.groups c on c.id = v.child_id and c.tenant_id = v.tenant_id
             where v.tenant_id = $1 and v.member
             on conflict do nothing",
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    // The closure from scratch, compared with what is there: only differences are written.
    const CLOSURE: &str = "with recursive up(g, u) as (
             select m.group_id, m.user_id from product.group_members m
             join product.groups pg on pg.id = m.group_id and pg.tenant_id = $1
             union
             select e.group_id, up.u from product.group_children e join up on e.child_id = up.g
         )";
    changed += db
        .execute_raw(stmt(
            &format!(
                "{CLOSURE}
                 delete from product.group_effective_members x using product.groups pg
                 where x.group_id = pg.id and pg.tenant_id = $1
                   and not exists (select 1 from up where up.g = x.group_id and up.u = x.user_id)"
            ),
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    changed += db
        .execute_raw(stmt(
            &format!(
                "{CLOSURE}
                 insert into product.group_effective_members (group_id, user_id)
                 select g, u from up on conflict do nothing"
            ),
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    Ok(changed)
}

/// The tenant's edges in the product: (parent, child).
pub async fn edges_of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    db.query_all_raw(stmt(
        "select e.group_id, e.child_id from product.group_children e
         join product.groups g on g.id = e.group_id where g.tenant_id = $1",
        [tenant.into()],
    ))
    .await?
    .iter()
    .map(|r| r.try_get_many_by_index::<(Uuid, Uuid)>())
    .collect()
}

/// The tenant's closure in the product: (group, user).
pub async fn effective_of_tenant(
    db: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    db.query_all_raw(stmt(
        "select x.group_id, x.user_id from product.group_effective_members x
         join product.groups g on g.id = x.group_id where g.tenant_id = $1",
        [tenant.into()],
    ))
    .await?
    .iter()
    .map(|r| r.try_get_many_by_index::<(Uuid, Uuid)>())
    .collect()
}
