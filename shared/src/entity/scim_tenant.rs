//! `scim.tenants`: one row per identity-provider tenant; everything else in the directory
//! belongs to one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    pub created_at: DateTimeWithTimeZone,
    /// Bumped with every change of the tenant's schema extensions (`scim.tenant_schemas`).
    pub schemas_version: i64,
}

/// A parent only: relations are declared child -> parent (`belongs_to`), so entity modules never
/// import each other in a circle; walk the other way with `Relation::X.def().rev()`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
