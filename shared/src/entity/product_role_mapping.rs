//! `product.role_mappings`: the tenant's group→role rules as the worker last applied them
//! (applied iff the message's version is newer), and how far their re-derivation got.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "product", table_name = "role_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub version: i64,
    /// `[{"group", "role", "priority"}]` (`shared::domain::roles::RoleRule`).
    #[sea_orm(column_type = "JsonBinary")]
    pub rules: Json,
    /// The last user (in id order) re-derived under `version`.
    pub derived_after: Option<Uuid>,
    pub finished_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
