//! `scim.api_tokens`: every statement on the table. Rows hold only a token's SHA-256; a token is
//! live while `revoked_at` is null. What a token is and who may have one is `crate::tokens`.

use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoColumnRef, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityName, EntityTrait, QueryFilter, QuerySelect,
};
use shared::entity::scim_api_token::{ActiveModel, Column, Entity};
use shared::entity::scim_tenant;
use uuid::Uuid;

pub async fn insert(db: &impl ConnectionTrait, tenant_id: Uuid, token_hash: Vec<u8>) -> Result<(), DbErr> {
    let row = ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        token_hash: Set(token_hash),
        ..Default::default()
    };
    Entity::insert(row).exec_without_returning(db).await.map(|_| ())
}

/// Revokes every live token of the tenant; returns how many there were.
pub async fn revoke_all(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::current_timestamp())
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The tenant, stored hash and tenant's schemas version of the live token with this hash, if
/// there is one (the version in the same statement: every request needs it, see
/// `tenant_schemas`).
pub async fn live_by_hash(
    db: &impl ConnectionTrait,
    token_hash: Vec<u8>,
) -> Result<Option<(Uuid, Vec<u8>, i64)>, DbErr> {
    Entity::find()
        .select_only()
        .columns([Column::TenantId, Column::TokenHash])
        .column(scim_tenant::Column::SchemasVersion)
        .inner_join(scim_tenant::Entity)
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::RevokedAt.is_null())
        .into_tuple()
        .one(db)
        .await
}

/// A correlated subquery: when the live token of the tenant named by `tenant_id` (a column of
/// the outer query) was issued, null when it has none.
pub fn live_issued_at(tenant_id: impl IntoColumnRef) -> Expr {
    Query::select()
        .expr(Func::max(Expr::col((Entity, Column::CreatedAt))))
        .from(Entity.table_ref())
        .and_where(Expr::col((Entity, Column::TenantId)).equals(tenant_id))
        .and_where(Expr::col((Entity, Column::RevokedAt)).is_null())
        .take()
        .into()
}
