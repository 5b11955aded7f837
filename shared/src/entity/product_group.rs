//! `product.groups`: one row per live SCIM group, as the rest of the product sees it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "product", table_name = "groups")]
pub struct Model {
    /// The SCIM id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    pub version: i64,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::product_group_member::Entity")]
    Members,
}

impl Related<super::product_group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Members.def()
    }
}

/// The group's members, through `product.group_members`.
impl Related<super::product_user::Entity> for Entity {
    fn to() -> RelationDef {
        super::product_group_member::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::product_group_member::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
