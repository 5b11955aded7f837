//! `scim.event_errors`: what receivers reported about SETs they could not use.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "event_errors")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub stream_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub jti: String,
    /// An RFC 8935 `err` code (`invalid_request`, `invalid_key`, ...).
    #[sea_orm(column_type = "Text")]
    pub error_code: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub received_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_event_stream::Entity",
        from = "Column::StreamId",
        to = "super::scim_event_stream::Column::Id",
        on_delete = "Cascade"
    )]
    Stream,
}

impl Related<super::scim_event_stream::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Stream.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
