//! `scim.outbox`: the transactional outbox. A row is written with the directory change it
//! announces and published after commit; `published_at` is set once the broker confirmed it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "outbox")]
pub struct Model {
    /// `generated always as identity`: the database numbers rows, in commit-ish order.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: Uuid,
    /// No foreign key: the row outlives nothing, it only routes.
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub routing_key: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub created_at: DateTimeWithTimeZone,
    pub published_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
