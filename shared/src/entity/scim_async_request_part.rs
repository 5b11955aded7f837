//! `scim.async_request_parts`: the change messages of an asynchronous request not settled yet.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "async_request_parts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub txn: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_async_request::Entity",
        from = "Column::Txn",
        to = "super::scim_async_request::Column::Txn",
        on_delete = "Cascade"
    )]
    Request,
}

impl Related<super::scim_async_request::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Request.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
