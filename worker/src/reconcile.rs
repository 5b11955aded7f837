//! `scim-worker reconcile`: re-derives `product.*` from the directory (repair after a restore or
//! a bug). Rows are overwritten with the directory's state and version, manager links are
//! recomputed, and active rows the directory does not know are deactivated (never deleted: the
//! product's history hangs off them). Running it twice changes nothing the second time.

use std::collections::HashSet;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use crate::roles::{self, Target};
use crate::rows::Overwrite;
use crate::users::write_user;
use crate::{expected, groups, memberships, nesting, users};

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub tenants: usize,
    pub users: usize,
    pub rows_written: u64,
    pub rows_deactivated: u64,
    /// Users the deprovisioning guard keeps as they were (held, in grace, rejected, protected).
    pub users_kept_by_guard: usize,
}

pub async fn run(
    directory: &impl ConnectionTrait,
    product: &DatabaseConnection,
    only: Option<Uuid>,
) -> Result<Summary, DbErr> {
    let mut summary = Summary::default();
    for tenant in expected::tenants(directory, only).await? {
        summary.tenants += 1;
        // Users the deprovisioning guard keeps as they were are left alone (a protected account
        // the directory deactivated is written active).
        let guard = shared::domain::deprovisioning::exceptions(directory, tenant).await?;
        let (users, kept) = expected::under_guard(expected::users(directory, tenant).await?, &guard);
        summary.users += users.len();
        summary.users_kept_by_guard += kept.len();
        let txn = product.begin().await?;
        // Missing rows first, without links (their manager may be missing too), then every
        // row's full state; unchanged rows are not touched.
        for u in &users {
            write_user(&txn, tenant, u.id, u.version, &u.snapshot, None, Overwrite::Never).await?;
        }
        for u in &users {
            summary.rows_written += write_user(
                &txn,
                tenant,
                u.id,
                u.version,
                &u.snapshot,
                u.manager_id,
                Overwrite::Different,
            )
            .await?;
        }
        let known: Vec<Uuid> = users
            .iter()
            .chain(kept.iter().map(|k| &k.user))
            .map(|u| u.id)
            .collect();
        summary.rows_deactivated += users::deactivate_all_but(&txn, tenant, known.clone()).await?;
        let kept_deleted: HashSet<Uuid> = kept
            .iter()
            .filter(|k| k.user.snapshot.deleted)
            .map(|k| k.user.id)
            .collect();
        summary.rows_written += reconcile_groups(directory, &txn, tenant, &kept_deleted).await?;
        summary.rows_written += reconcile_access(directory, &txn, tenant, &users, known).await?;
        txn.commit().await?;
    }
    Ok(summary)
}

/// The tenant's rules as the directory has them (stored as applied: no re-derivation pending),
/// the entitlements of `users` (the ones expected at their directory state), and the roles of
/// every `known` user derived anew; returns how many product rows changed.
async fn reconcile_access(
    directory: &impl ConnectionTrait,
    txn: &DatabaseTransaction,
    tenant: Uuid,
    users: &[expected::ExpectedUser],
    known: Vec<Uuid>,
) -> Result<u64, DbErr> {
    let mapping = shared::entity::scim_tenant_role_mapping::Entity::find_by_id(tenant)
        .one(directory)
        .await?;
    if let Some(m) = mapping {
        roles::store_applied(txn, tenant, m.version, &m.rules).await?;
    }
    let mut pairs = (Vec::new(), Vec::new());
    for u in users {
        for e in &u.snapshot.entitlements {
            pairs.0.push(u.id);
            pairs.1.push(e.clone());
        }
    }
    let ids = users.iter().map(|u| u.id).collect();
    let mut written = roles::write_entitlements(txn, ids, pairs).await?;
    roles::lock_mapped(txn, &[tenant]).await?;
    written += roles::derive(txn, Target::Users(known)).await?;
    Ok(written)
}

/// Groups, their ledger, and memberships; returns how many product rows changed. The
/// memberships of `kept_deleted` users (deleted in the directory, kept by the guard) are left
/// as they are.
async fn reconcile_groups(
    directory: &impl ConnectionTrait,
    txn: &impl ConnectionTrait,
    tenant: Uuid,
    kept_deleted: &HashSet<Uuid>,
) -> Result<u64, DbErr> {
    let mut written = 0;
    let expected = expected::groups(directory, tenant).await?;
    for g in &expected {
        groups::write_ledger(txn, tenant, g.id, g.version, g.deleted, Overwrite::Different).await?;
        if !g.deleted {
            written +=
                groups::write_group(txn, tenant, g.id, g.version, &g.name, Overwrite::Different).await?;
        }
    }
    let live: Vec<Uuid> = expected.iter().filter(|g| !g.deleted).map(|g| g.id).collect();
    written += groups::delete_all_but(txn, tenant, live).await?;

    let mut pairs = expected::memberships(directory, tenant).await?;
    pairs.retain(|p| !kept_deleted.contains(&p.user_id));
    written += memberships::reconcile(txn, tenant, &pairs).await?;
    let edges = expected::edges(directory, tenant).await?;
    written += nesting::reconcile(txn, tenant, &edges).await?;
    Ok(written)
}
