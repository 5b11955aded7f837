//! `scim.api_tokens`: a tenant's bearer tokens. Only the SHA-256 of a token is kept; a token is
//! live while `revoked_at` is null.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub token_hash: Vec<u8>,
    pub created_at: DateTimeWithTimeZone,
    pub revoked_at: Option<DateTimeWithTimeZone>,
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
