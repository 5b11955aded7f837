//! `scim.tenant_role_mappings`: a tenant's group→role rules, their version, and how far the
//! workers have re-derived the tenant's users under that version (reported by the worker).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "tenant_role_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `[{"group", "role", "priority"}]` (`shared::domain::roles::RoleRule`).
    #[sea_orm(column_type = "JsonBinary")]
    pub rules: Json,
    pub version: i64,
    pub updated_at: DateTimeWithTimeZone,
    /// The tenant's users when the mapping changed.
    pub users_total: i64,
    /// The version the workers are re-deriving (or finished), and users done under it.
    pub derived_version: i64,
    pub derived_done: i64,
    /// When the re-derivation of `derived_version` finished.
    pub derived_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_tenant::Entity",
        from = "Column::TenantId",
        to = "super::scim_tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
}

impl ActiveModelBehavior for ActiveModel {}
