//! `scim.tenant_mappings`: a tenant's mapping of SCIM attributes into `product.users`, and its
//! backfill's progress.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "tenant_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `[{"from", "to"}]` (`shared::domain::mapping::Rule`).
    #[sea_orm(column_type = "JsonBinary")]
    pub rules: Json,
    pub updated_at: DateTimeWithTimeZone,
    /// Users to send again, and sent so far.
    pub backfill_total: i64,
    pub backfill_done: i64,
    /// The last user sent (users go in id order).
    pub backfill_after: Option<Uuid>,
    pub backfill_started_at: Option<DateTimeWithTimeZone>,
    pub backfill_finished_at: Option<DateTimeWithTimeZone>,
    pub lease_until: Option<DateTimeWithTimeZone>,
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
