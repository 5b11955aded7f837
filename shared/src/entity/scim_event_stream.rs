//! `scim.event_streams`: a tenant's event streams (RFC 8936 poll or RFC 8935 push).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "event_streams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `poll` or `push`.
    #[sea_orm(column_type = "Text")]
    pub delivery: String,
    /// Push: the receiver's URL.
    #[sea_orm(column_type = "Text")]
    pub endpoint: Option<String>,
    /// Push: the `Authorization` header value sent to the receiver.
    #[sea_orm(column_type = "Text")]
    pub authorization_header: Option<String>,
    /// Poll: SHA-256 of the stream's bearer token.
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub token_hash: Option<Vec<u8>>,
    /// The event URIs the stream takes; none: every one.
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub event_uris: Option<Vec<String>>,
    /// `full` or `notice`.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// The SETs' `iss`: the SCIM base URL.
    #[sea_orm(column_type = "Text")]
    pub issuer: String,
    /// The SETs' `aud`: the stream's URL.
    #[sea_orm(column_type = "Text")]
    pub audience: String,
    /// The highest sequence handed out (poll) or delivered (push).
    pub position: i64,
    #[sea_orm(column_type = "Text")]
    pub paused_reason: Option<String>,
    pub paused_at: Option<DateTimeWithTimeZone>,
    pub last_delivery_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTimeWithTimeZone>,
    /// Push: failed attempts at the SET at `position + 1`.
    pub attempts: i32,
    /// Push: not before this time (backoff).
    pub retry_at: Option<DateTimeWithTimeZone>,
    /// Push: a deliverer holds the stream until then.
    pub lease_until: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_tenant::Entity",
        from = "Column::TenantId",
        to = "super::scim_tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
}

impl Related<super::scim_tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
