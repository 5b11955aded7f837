//! `scim.tenant_access`: the roles and entitlements a tenant's admin defined. `/Roles` and
//! `/Entitlements` list them, and users' `roles` and `entitlements` must name one of them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "tenant_access")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `role` or `entitlement`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub kind: String,
    /// What a user's `roles[].value` or `entitlements[].value` names; the resource's id.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub value: String,
    #[sea_orm(column_type = "Text")]
    pub display: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub r#type: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
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
