//! `scim.signing_keys`: the keys that sign SETs. The newest unretired key signs; retired keys
//! stay published for a grace period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "scim", table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub kid: String,
    /// The JWS `alg` (`EdDSA`).
    #[sea_orm(column_type = "Text")]
    pub algorithm: String,
    /// PKCS#8 DER.
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub private_key: Vec<u8>,
    /// The public key as a JWK (RFC 7517), with `kid`, `use` and `alg`.
    #[sea_orm(column_type = "JsonBinary")]
    pub public_jwk: Json,
    pub created_at: DateTimeWithTimeZone,
    pub retired_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
