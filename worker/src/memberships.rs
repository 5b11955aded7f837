//! Memberships in the product: a batch of (group, user) changes applied with a fixed number of
//! statements, under the same version ledger and key locks as groups and users (see `groups`).

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use shared::messages::{ChangeMessage, MembershipSnapshot, Resource};
use uuid::Uuid;

use crate::key_locks;
use crate::outcome::Outcome;

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
        .map(|r| Ok((r.try_get("", "group_id")?, r.try_get("", "user_id")?)))
        .collect::<Result<_, DbErr>>()?;
    let mut outcomes = Vec::with_capacity(changes.len());
    let (mut add, mut remove) = ((Vec::new(), Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
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
        txn.execute_raw(stmt(
            "insert into product.group_members (group_id, user_id)
             select g.id, u.id from unnest($1::uuid[], $2::uuid[], $3::uuid[]) as w(g, u, t)
             join lateral (select id, tenant_id from product.groups where id = w.g offset 0) g on g.tenant_id = w.t
             join lateral (select id, tenant_id from product.users where id = w.u offset 0) u on u.tenant_id = w.t
             on conflict do nothing",
            [add.0.into(), add.1.into(), add.2.into()],
        ))
        .await?;
    }
    if !remove.0.is_empty() {
        txn.execute_raw(stmt(
            "delete from product.group_members m using unnest($1::uuid[], $2::uuid[]) as w(g, u)
             where m.group_id = w.g and m.user_id = w.u",
            [remove.0.into(), remove.1.into()],
        ))
        .await?;
    }
    Ok(outcomes)
}
