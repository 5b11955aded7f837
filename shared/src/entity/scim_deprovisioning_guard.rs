//! `scim.deprovisioning_guards`: a tenant's deprovisioning guard policy (no row: the defaults).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "deprovisioning_guards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub enabled: bool,
    #[sea_orm(column_type = "Double")]
    pub max_fraction: f64,
    pub min_count: i32,
    pub window_minutes: i32,
    pub grace_minutes: i32,
    /// userNames as the admin wrote them; compared case-insensitively.
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub protected: Vec<String>,
    /// Active users before the window's deprovisionings, as counted at `base_counted_at`.
    pub base_active: Option<i64>,
    pub base_counted_at: Option<DateTimeWithTimeZone>,
    pub updated_at: DateTimeWithTimeZone,
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
