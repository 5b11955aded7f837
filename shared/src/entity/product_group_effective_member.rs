//! `product.group_effective_members`: every (group, user) where the user is a member of the
//! group directly or through a chain of child groups: the transitive closure the product reads
//! to answer "is this user in that group". Maintained incrementally by the worker.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "product", table_name = "group_effective_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
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
        belongs_to = "super::product_user::Entity",
        from = "Column::UserId",
        to = "super::product_user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::product_group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
