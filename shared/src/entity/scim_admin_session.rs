//! `scim.admin_sessions`: signed-in admin page sessions. Only the SHA-256 of the session id (a
//! cookie) is kept, and of its CSRF token; the key fingerprint ties a session to the ADMIN_TOKEN it
//! was opened with.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "admin_sessions")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "VarBinary(StringLen::None)"
    )]
    pub id_hash: Vec<u8>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub key_fingerprint: Vec<u8>,
    pub created_at: DateTimeWithTimeZone,
    pub expires_at: DateTimeWithTimeZone,
    /// SHA-256 of the session's CSRF token (the token is derived from the session id).
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub csrf_hash: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
