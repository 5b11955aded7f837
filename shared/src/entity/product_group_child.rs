//! `product.group_children`: one row per current (parent, child group) edge whose ends are both
//! in the product; a removal deletes it (its version stays in `product.nesting_versions`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "product", table_name = "group_children")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub child_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::product_group::Entity",
        from = "Column::GroupId",
        to = "super::product_group::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
    #[sea_orm(
        belongs_to = "super::product_group::Entity",
        from = "Column::ChildId",
        to = "super::product_group::Column::Id",
        on_delete = "Cascade"
    )]
    Child,
}

impl ActiveModelBehavior for ActiveModel {}
