//! Memberships in the product (`product.group_members` and its ledger
//! `product.membership_versions`): a batch of (group, user) changes applied with a fixed number
//! of statements, under the same version ledger and key locks as groups and users (see
//! `groups`), and the memberships that wait in the ledger for their group or user.
//!
//! The writes here are set-based statements over arrays of pairs, kept as SQL: the builder
//! cannot say `unnest`, `using` or the `offset 0` fences, and a list would bind one parameter
//! per value.

use std::collections::HashSet;

use sea_orm::JoinType;
use sea_orm::sea_query::{Expr, ExprTrait, PgFunc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
    RelationTrait,
};
use shared::db::stmt;
use shared::entity::{product_group, product_group_member as member, product_membership_version as ledger};
use shared::messages::{ChangeMessage, MembershipSnapshot, Resource};
use uuid::Uuid;

use crate::expected::ExpectedMembership;
use crate::key_locks;
use crate::nesting::{self, Seed};
use crate::outcome::Outcome;
use crate::roles::{self, Target};

/// One membership change of a batch.
pub struct MembershipChange<'a> {
    pub msg: &'a ChangeMessage,
    pub membership: &'a MembershipSnapshot,
}

impl<'a> MembershipChange<'a> {
    /// `None` unless the message is a membership change.
    pub fn of(msg: &'a ChangeMessage) -> Option<Self> {
        match &msg.resource {
            Resource::Membership(membership) => Some(Self { msg, membership }),
            _ => None,
        }
    }
}

/// Applies membership changes of distinct (group, user) pairs in one transaction, with a fixed
/// number of statements: a 20,000-member group arrives as 20,000 of them. The outcomes are in
/// the order of `changes`.
pub async fn apply_memberships(
    txn: &DatabaseTransaction,
    changes: &[MembershipChange<'_>],
) -> Result<Vec<Outcome>, DbErr> {
    let mut locks = Vec::new();
    let (mut groups, mut users, mut tenants, mut versions, mut members) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in changes {
        let (tenant, group, user) = (c.msg.tenant_id, c.msg.resource_id, c.membership.user_id);
        locks.extend([group, user].map(|key| (tenant, key.to_string())));
        groups.push(group);
        users.push(user);
        tenants.push(tenant);
        versions.push(c.msg.version);
        members.push(c.membership.member);
    }
    key_locks::lock(txn, locks).await?;
    let mut nested: Vec<Uuid> = tenants.clone();
    nested.sort_unstable();
    nested.dedup();
    nesting::lock_nested(txn, &nested).await?;
    // The membership batch: one upsert for all pairs.
    let rows = txn
        .query_all_raw(stmt(
            "insert into product.membership_versions as v (group_id, user_id, tenant_id, version, member)
             select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::bool[])
             on conflict (group_id, user_id) do update set version = excluded.version, member = excluded.member
             where v.version < excluded.version and v.tenant_id = excluded.tenant_id
             returning group_id, user_id",
            [groups.into(), users.into(), tenants.into(), versions.into(), members.into()],
        ))
        .await?;
    let written: HashSet<(Uuid, Uuid)> = rows
        .iter()
        .map(|r| r.try_get_many_by_index::<(Uuid, Uuid)>())
        .collect::<Result<_, _>>()?;
    let mut outcomes = Vec::with_capacity(changes.len());
    let (mut add, mut remove) = ((Vec::new(), Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut changed: Vec<Uuid> = Vec::new();
    for c in changes {
        let (group, user) = (c.msg.resource_id, c.membership.user_id);
        if !written.contains(&(group, user)) {
            outcomes.push(Outcome::Stale);
            continue;
        }
        outcomes.push(Outcome::Applied);
        if c.membership.member {
            add.0.push(group);
            add.1.push(user);
            add.2.push(c.msg.tenant_id);
        } else {
            remove.0.push(group);
            remove.1.push(user);
        }
    }
    if !add.0.is_empty() {
        // Only where both ends are in the product, in this tenant; otherwise the ledger keeps
        // it. Each end is found by its key, the tenant checked on the row (a tenant-wide index
        // walk per pair is what the planner may pick for a tenant it believes small).
        let rows = txn
            .query_all_raw(stmt(
                "insert into product.group_members (group_id, user_id)
                 select g.id, u.id from unnest($1::uuid[], $2::uuid[], $3::uuid[]) as w(g, u, t)
                 join lateral (select id, tenant_id from product.groups where id = w.g offset 0) g on g.tenant_id = w.t
                 join lateral (select id, tenant_id from product.users where id = w.u offset 0) u on u.tenant_id = w.t
                 on conflict do nothing
                 returning group_id, user_id",
                [add.0.into(), add.1.into(), add.2.into()],
            ))
            .await?;
        let (g, u) = pairs(&rows)?;
        changed.extend_from_slice(&u);
        nesting::spread(txn, Seed::Pairs, g, u).await?;
    }
    if !remove.0.is_empty() {
        let rows = txn
            .query_all_raw(stmt(
                "delete from product.group_members m using unnest($1::uuid[], $2::uuid[]) as w(g, u)
                 where m.group_id = w.g and m.user_id = w.u
                 returning m.group_id, m.user_id",
                [remove.0.into(), remove.1.into()],
            ))
            .await?;
        let (g, u) = pairs(&rows)?;
        changed.extend_from_slice(&u);
        nesting::prune(txn, Seed::Pairs, g, u).await?;
    }
    // A user's effective groups changed only where one of its memberships did; its roles
    // follow, in tenants that have rules.
    if !changed.is_empty() && !roles::lock_mapped(txn, &nested).await?.is_empty() {
        changed.sort_unstable();
        changed.dedup();
        roles::derive(txn, Target::Users(changed)).await?;
    }
    Ok(outcomes)
}

/// The (group, user) columns of returned rows, as two arrays.
fn pairs(rows: &[sea_orm::QueryResult]) -> Result<(Vec<Uuid>, Vec<Uuid>), DbErr> {
    let mut out = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
    for r in rows {
        let (g, u) = r.try_get_many_by_index::<(Uuid, Uuid)>()?;
        out.0.push(g);
        out.1.push(u);
    }
    Ok(out)
}

/// Groups with memberships waiting in the ledger for these (tenant, user) pairs.
pub async fn pending_groups(
    db: &impl ConnectionTrait,
    users: &[(Uuid, Uuid)],
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    use ledger::Column as C;
    let ids: Vec<Uuid> = users.iter().map(|&(_, id)| id).collect();
    let rows: Vec<(Uuid, Uuid, Uuid)> = ledger::Entity::find()
        .select_only()
        .columns([C::TenantId, C::GroupId, C::UserId])
        .filter(Expr::col(C::UserId).eq(PgFunc::any(ids)))
        // Exactly the predicate of the partial index on user_id.
        .filter(Expr::col(C::Member))
        .into_tuple()
        .all(db)
        .await?;
    let wanted: HashSet<&(Uuid, Uuid)> = users.iter().collect();
    Ok(rows
        .into_iter()
        .filter(|&(tenant, _, user)| wanted.contains(&(tenant, user)))
        .map(|(tenant, group, _)| (tenant, group))
        .collect())
}

/// Memberships that arrived before these new (tenant, user) pairs did, where the group is in
/// the product, and the closure they give. The caller holds the groups' locks.
pub async fn materialise_for_users(txn: &DatabaseTransaction, users: &[(Uuid, Uuid)]) -> Result<(), DbErr> {
    let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = users.iter().copied().unzip();
    let mut nested = tenants.clone();
    nested.sort_unstable();
    nested.dedup();
    nesting::lock_nested(txn, &nested).await?;
    let rows = txn
        .query_all_raw(stmt(
            "insert into product.group_members (group_id, user_id)
             select m.group_id, m.user_id from product.membership_versions m
             join unnest($1::uuid[], $2::uuid[]) as n(t, id) on m.user_id = n.id and m.tenant_id = n.t
             join product.groups g on g.id = m.group_id and g.tenant_id = m.tenant_id
             where m.member
             on conflict do nothing
             returning group_id, user_id",
            [tenants.into(), ids.into()],
        ))
        .await?;
    let (g, u) = pairs(&rows)?;
    nesting::spread(txn, Seed::Pairs, g, u).await.map(|_| ())
}

/// Memberships that arrived before this group did, where the user is in the product.
pub async fn materialise_for_group(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "insert into product.group_members (group_id, user_id)
         select m.group_id, m.user_id from product.membership_versions m
         join product.users u on u.id = m.user_id and u.tenant_id = m.tenant_id
         where m.group_id = $1 and m.tenant_id = $2 and m.member
         on conflict do nothing",
        [group.into(), tenant.into()],
    ))
    .await
    .map(|_| ())
}

/// Reconcile: makes the tenant's ledger and memberships exactly the directory's `pairs`;
/// returns how many memberships it added or removed.
pub async fn reconcile(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    pairs: &[ExpectedMembership],
) -> Result<u64, DbErr> {
    let (mut g, mut u, mut v, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in pairs {
        g.push(p.group_id);
        u.push(p.user_id);
        v.push(p.version);
        m.push(p.member);
    }
    db.execute_raw(stmt(
        "insert into product.membership_versions as v (group_id, user_id, tenant_id, version, member)
         select g, u, $1, v, m from unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::bool[]) as t(g, u, v, m)
         on conflict (group_id, user_id) do update set version = excluded.version, member = excluded.member
         where v.tenant_id = excluded.tenant_id and (v.version, v.member) is distinct from (excluded.version, excluded.member)",
        [tenant.into(), g.into(), u.into(), v.into(), m.into()],
    ))
    .await?;
    // The product's memberships: exactly the live pairs whose group and user are present.
    let removed = db
        .execute_raw(stmt(
            "delete from product.group_members pm using product.groups pg
             where pm.group_id = pg.id and pg.tenant_id = $1
               and not exists (select 1 from product.membership_versions v
                               where v.group_id = pm.group_id and v.user_id = pm.user_id and v.member)",
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    let added = db
        .execute_raw(stmt(
            "insert into product.group_members (group_id, user_id)
             select v.group_id, v.user_id from product.membership_versions v
             join product.groups pg on pg.id = v.group_id and pg.tenant_id = v.tenant_id
             join product.users pu on pu.id = v.user_id and pu.tenant_id = v.tenant_id
             where v.tenant_id = $1 and v.member
             on conflict do nothing",
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    Ok(removed + added)
}

/// The tenant's memberships in the product: (group, user) pairs.
pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    member::Entity::find()
        .select_only()
        .columns([member::Column::GroupId, member::Column::UserId])
        .join(JoinType::InnerJoin, member::Relation::Group.def())
        .filter(product_group::Column::TenantId.eq(tenant))
        .into_tuple()
        .all(db)
        .await
}
