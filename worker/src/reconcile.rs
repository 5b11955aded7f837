//! `scim-worker reconcile`: re-derives `product.*` from the directory (repair after a restore or
//! a bug). Rows are overwritten with the directory's state and version, manager links are
//! recomputed, and active rows the directory does not know are deactivated (never deleted: the
//! product's history hangs off them). Running it twice changes nothing the second time.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

use crate::expected;
use crate::users::{OnConflict, write_user};

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub tenants: usize,
    pub users: usize,
    pub rows_written: u64,
    pub rows_deactivated: u64,
}

pub async fn run(
    directory: &impl ConnectionTrait,
    product: &DatabaseConnection,
    only: Option<Uuid>,
) -> Result<Summary, DbErr> {
    let mut summary = Summary::default();
    for tenant in expected::tenants(directory, only).await? {
        summary.tenants += 1;
        let users = expected::users(directory, tenant).await?;
        summary.users += users.len();
        let txn = product.begin().await?;
        // Missing rows first, without links (their manager may be missing too), then every
        // row's full state; unchanged rows are not touched.
        for u in &users {
            write_user(
                &txn,
                tenant,
                u.id,
                u.version,
                &u.snapshot,
                None,
                OnConflict::Nothing,
            )
            .await?;
        }
        for u in &users {
            summary.rows_written += write_user(
                &txn,
                tenant,
                u.id,
                u.version,
                &u.snapshot,
                u.manager_id,
                OnConflict::IfDifferent,
            )
            .await?;
        }
        let known: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let res = txn
            .execute_raw(stmt(
                "update product.users set active = false, updated_at = now()
                 where tenant_id = $1 and active and not (id = any($2))",
                [tenant.into(), known.into()],
            ))
            .await?;
        summary.rows_deactivated += res.rows_affected();
        summary.rows_written += reconcile_groups(directory, &txn, tenant).await?;
        txn.commit().await?;
    }
    Ok(summary)
}

/// Groups, their ledger, and memberships; returns how many product rows changed.
async fn reconcile_groups(
    directory: &impl ConnectionTrait,
    txn: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<u64, DbErr> {
    let mut written = 0;
    let groups = expected::groups(directory, tenant).await?;
    for g in &groups {
        txn.execute_raw(stmt(
            "insert into product.group_versions as v (id, tenant_id, version, deleted) values ($1, $2, $3, $4)
             on conflict (id) do update set version = excluded.version, deleted = excluded.deleted
             where v.tenant_id = excluded.tenant_id and (v.version, v.deleted) is distinct from (excluded.version, excluded.deleted)",
            [g.id.into(), tenant.into(), g.version.into(), g.deleted.into()],
        ))
        .await?;
        if !g.deleted {
            written += txn
                .execute_raw(stmt(
                    "insert into product.groups as g (id, tenant_id, name, version) values ($1, $2, $3, $4)
                     on conflict (id) do update set name = excluded.name, version = excluded.version, updated_at = now()
                     where g.tenant_id = excluded.tenant_id and (g.name, g.version) is distinct from (excluded.name, excluded.version)",
                    [g.id.into(), tenant.into(), g.name.clone().into(), g.version.into()],
                ))
                .await?
                .rows_affected();
        }
    }
    let live: Vec<Uuid> = groups.iter().filter(|g| !g.deleted).map(|g| g.id).collect();
    written += txn
        .execute_raw(stmt(
            "delete from product.groups where tenant_id = $1 and not (id = any($2))",
            [tenant.into(), live.into()],
        ))
        .await?
        .rows_affected();

    let pairs = expected::memberships(directory, tenant).await?;
    let (mut g, mut u, mut v, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in &pairs {
        g.push(p.group_id);
        u.push(p.user_id);
        v.push(p.version);
        m.push(p.member);
    }
    txn.execute_raw(stmt(
        "insert into product.membership_versions as v (group_id, user_id, tenant_id, version, member)
         select g, u, $1, v, m from unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::bool[]) as t(g, u, v, m)
         on conflict (group_id, user_id) do update set version = excluded.version, member = excluded.member
         where v.tenant_id = excluded.tenant_id and (v.version, v.member) is distinct from (excluded.version, excluded.member)",
        [tenant.into(), g.into(), u.into(), v.into(), m.into()],
    ))
    .await?;
    // The product's memberships: exactly the live pairs whose group and user are present.
    written += txn
        .execute_raw(stmt(
            "delete from product.group_members pm using product.groups pg
             where pm.group_id = pg.id and pg.tenant_id = $1
               and not exists (select 1 from product.membership_versions v
                               where v.group_id = pm.group_id and v.user_id = pm.user_id and v.member)",
            [tenant.into()],
        ))
        .await?
        .rows_affected();
    written += txn
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
    Ok(written)
}
