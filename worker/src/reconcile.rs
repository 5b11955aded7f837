//! `scim-worker reconcile`: re-derives `product.*` from the directory (repair after a restore or
//! a bug). Rows are overwritten with the directory's state and version, manager links are
//! recomputed, and active rows the directory does not know are deactivated (never deleted: the
//! product's history hangs off them). Running it twice changes nothing the second time.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

use crate::apply::{OnConflict, write_user};
use crate::expected;

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
        txn.commit().await?;
    }
    Ok(summary)
}
