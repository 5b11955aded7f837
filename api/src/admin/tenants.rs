//! Tenants as the admin page lists them: name, creation time and whether a SCIM token is live.
//! Creating tenants and issuing, rotating and revoking tokens is `crate::tokens`, shared with the
//! `scim-api tenant` and `token` commands.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

use super::error::AdminError;

/// The list shows the newest tenants first, up to this many.
pub const LIST_LIMIT: i64 = 500;

#[derive(Debug, Serialize, FromQueryResult)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the live token was issued; `None` when the tenant has no working token.
    pub token_issued_at: Option<DateTime<Utc>>,
}

const SELECT: &str = "select t.id, t.name, t.created_at,
        (select max(k.created_at) from scim.api_tokens k
         where k.tenant_id = t.id and k.revoked_at is null) as token_issued_at
    from scim.tenants t";

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Tenant>, DbErr> {
    Tenant::find_by_statement(stmt(
        &format!("{SELECT} order by t.created_at desc, t.id limit $1"),
        [LIST_LIMIT.into()],
    ))
    .all(db)
    .await
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<Tenant, AdminError> {
    Tenant::find_by_statement(stmt(&format!("{SELECT} where t.id = $1"), [id.into()]))
        .one(db)
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

pub async fn counts(db: &DatabaseConnection, id: Uuid) -> Result<Counts, DbErr> {
    let counts = Counts::find_by_statement(stmt(
        "select
            (select count(*) from scim.users where tenant_id = $1 and deleted_at is null) as users,
            (select count(*) from scim.users where tenant_id = $1 and deleted_at is null and active) as active_users,
            (select count(*) from scim.groups where tenant_id = $1 and deleted_at is null) as groups",
        [id.into()],
    ))
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
