//! `scim.audit`: what identity providers did, one row per SCIM request attributed to a tenant
//! (never a body). Written best-effort in batches, purged after the retention period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "audit")]
pub struct Model {
    /// `generated always as identity`.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeWithTimeZone,
    /// No foreign key: the log outlives nothing and is written best-effort.
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub method: String,
    /// The route template (`/Users/{id}`), not the raw path.
    #[sea_orm(column_type = "Text")]
    pub route: String,
    #[sea_orm(column_type = "Text")]
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// The HTTP status (`smallint`).
    pub status: i16,
    pub latency_ms: i32,
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
    #[sea_orm(column_type = "Text")]
    pub client: Option<String>,
    /// The request's W3C trace id.
    #[sea_orm(column_type = "Text")]
    pub trace_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
