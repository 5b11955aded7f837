//! `scim.auth_acks`: a listener heard a change author's marker, so it has emptied its cache for
//! every change committed before the marker was sent (directory migration 15).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "auth_acks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub marker: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub listener: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
