//! Tenants as the admin page lists them: name, creation time and whether a SCIM token is live.
//! Creating tenants and issuing, rotating and revoking tokens is `crate::tokens`, shared with the
//! `scim-api tenant` and `token` commands.

use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityName, FromQueryResult};
use serde::Serialize;
use shared::entity::{scim_group as group, scim_user as user};
use uuid::Uuid;

use super::error::AdminError;
pub use crate::tenants::Tenant;

/// The list shows the newest tenants first, up to this many.
pub const LIST_LIMIT: i64 = 500;

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Tenant>, DbErr> {
    crate::tenants::newest(db, LIST_LIMIT as u64).await
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<Tenant, AdminError> {
    crate::tenants::find(db, id)
        .await?
        .ok_or(AdminError::UnknownTenant(id))
}

/// Live users and groups of a tenant.
#[derive(Debug, Serialize, FromQueryResult)]
pub struct Counts {
    pub users: i64,
    pub active_users: i64,
    pub groups: i64,
}

/// Reads `scim.users` and `scim.groups` for the tenant page only; each count is its own scalar
/// subquery so every one can use its index.
pub async fn counts(db: &DatabaseConnection, id: Uuid) -> Result<Counts, DbErr> {
    let live_users = || {
        Query::select()
            .expr(Expr::col(Asterisk).count())
            .from(user::Entity.table_ref())
            .and_where(user::Column::TenantId.eq(id))
            .and_where(user::Column::DeletedAt.is_null())
            .take()
    };
    let groups = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(group::Entity.table_ref())
        .and_where(group::Column::TenantId.eq(id))
        .and_where(group::Column::DeletedAt.is_null())
        .take();
    let active_users = live_users().and_where(user::Column::Active.into_expr()).take();
    let query = Query::select()
        .expr_as(live_users(), "users")
        .expr_as(active_users, "active_users")
        .expr_as(groups, "groups")
        .take();
    let counts = Counts::find_by_statement(db.get_database_backend().build(&query))
        .one(db)
        .await?;
    Ok(counts.unwrap_or(Counts {
        users: 0,
        active_users: 0,
        groups: 0,
    }))
}

/// A path segment naming a tenant; anything that is not a UUID names no tenant.
pub fn parse_id(segment: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(segment).map_err(|_| AdminError::NotFound)
}
