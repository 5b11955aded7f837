//! `scim.auth_listeners`: an api that keeps live tokens in memory, while it hears token changes
//! (directory migration 15, api/src/auth_cache.rs).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "auth_listeners")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub registered_at: DateTimeWithTimeZone,
    /// When it last heard its own ping: it keeps its cache only while that is recent.
    pub alive_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
