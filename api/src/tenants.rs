//! `scim.tenants`: every statement on the table. A tenant is created together with its first
//! token (`crate::tokens`); the admin lists tenants with when their live token was issued.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use serde::Serialize;
use shared::entity::scim_tenant::{ActiveModel, Column, Entity};
use uuid::Uuid;

use crate::api_tokens;

/// A tenant as the admin shows it.
#[derive(Debug, Serialize, FromQueryResult)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the live token was issued; `None` when the tenant has no working token.
    pub token_issued_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, id: Uuid, name: &str) -> Result<(), DbErr> {
    let row = ActiveModel {
        id: Set(id),
        name: Set(name.to_owned()),
        ..Default::default()
    };
    Entity::insert(row).exec_without_returning(db).await.map(|_| ())
}

/// Locks the tenant's row until the transaction ends (`for update`); false when there is none.
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let row: Option<Uuid> = Entity::find_by_id(id)
        .select_only()
        .column(Column::Id)
        .lock_exclusive()
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.is_some())
}

/// The newest tenants first, up to `limit`.
pub async fn newest(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Tenant>, DbErr> {
    listed()
        .order_by_desc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .into_model()
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Tenant>, DbErr> {
    listed().filter(Column::Id.eq(id)).into_model().one(db).await
}

/// The columns of [`Tenant`].
fn listed() -> Select<Entity> {
    Entity::find()
        .select_only()
        .columns([Column::Id, Column::Name, Column::CreatedAt])
        .expr_as(
            api_tokens::live_issued_at((Entity, Column::Id)),
            "token_issued_at",
        )
}
