//! `scim.group_children`: one row per (parent, child group) ever related. `member` false is a
//! removal; the row stays so the pair's version only increases.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "group_children")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub child_id: Uuid,
    pub tenant_id: Uuid,
    pub member: bool,
    pub version: i64,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_group::Entity",
        from = "Column::GroupId",
        to = "super::scim_group::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
    #[sea_orm(
        belongs_to = "super::scim_group::Entity",
        from = "Column::ChildId",
        to = "super::scim_group::Column::Id",
        on_delete = "Cascade"
    )]
    Child,
}

impl ActiveModelBehavior for ActiveModel {}
