//! `scim.deprovisions`: every deprovisioning the guard decided, and what became of it (states in
//! migration 11).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "deprovisions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub user_name: String,
    /// `deactivate` or `delete`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// `passed`, `grace`, `released`, `held`, `approved`, `rejected`, `cancelled`, `protected`.
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub version: i64,
    /// The change messages to send when a grace period ends or a hold is approved.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub messages: Option<Json>,
    pub created_at: DateTimeWithTimeZone,
    pub release_at: Option<DateTimeWithTimeZone>,
    pub decided_at: Option<DateTimeWithTimeZone>,
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

impl Related<super::scim_tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
