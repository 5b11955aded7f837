//! `scim.events`: one row per committed change of a tenant with event streams, the source of
//! every SET. `sequence` is null until the sequencer numbers it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// No foreign key: rows are purged by age, like the outbox's.
    pub tenant_id: Uuid,
    /// Per tenant, gapless, in the order the changes were seen committed.
    pub sequence: Option<i64>,
    /// The change (RFC 9967 `txn`): the same on every SET about it, and in `Set-Txn`.
    pub txn: Uuid,
    /// `User` or `Group`.
    #[sea_orm(column_type = "Text")]
    pub resource_type: String,
    pub resource_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub external_id: Option<String>,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    #[sea_orm(column_type = "Text")]
    pub method: String,
    /// `active` turned true (activate) or false (deactivate) with this change.
    pub activation: Option<bool>,
    /// The attribute paths the change touched (notice payloads).
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub attributes: Vec<String>,
    /// The full payload (`data`); none for a delete.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Option<Json>,
    /// The resource's ETag after the change; none for a delete.
    #[sea_orm(column_type = "Text")]
    pub version: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub sequenced_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
