//! `scim.groups`: the SCIM directory's groups. `resource` holds the normalised attributes except
//! `members` (one row per pair in `scim.group_members`); `revision` is what the ETag counts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub display_name: String,
    /// displayName folded to lower case by the api: what uniqueness is checked on.
    #[sea_orm(column_type = "Text")]
    pub display_name_key: String,
    #[sea_orm(column_type = "Text")]
    pub external_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub resource: Json,
    /// Orders the group's own change messages.
    pub version: i64,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub deleted_at: Option<DateTimeWithTimeZone>,
    /// Every change a GET of the group shows, membership changes included (the ETag).
    pub revision: i64,
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
