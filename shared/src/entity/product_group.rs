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

/// A parent only: relations are declared child -> parent (`belongs_to`), so entity modules never
/// import each other in a circle; walk the other way with `Relation::X.def().rev()`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
