//! How far behind a tenant's changes are: unpublished outbox rows (committed, not yet handed to
//! RabbitMQ) and their age. What waits in the changes queue and the dead letters come from
//! `broker`. The product-side lag is not computed here: the product tables may live in another
//! database the api does not reach.

use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

#[derive(Debug, Serialize, FromQueryResult)]
pub struct Outbox {
    /// Changes committed but not yet confirmed by RabbitMQ.
    pub pending: i64,
    pub oldest_pending_seconds: Option<f64>,
}

pub async fn outbox(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Outbox, DbErr> {
    let row = Outbox::find_by_statement(stmt(
        "select count(*) as pending,
                extract(epoch from now() - min(created_at))::float8 as oldest_pending_seconds
         from scim.outbox where tenant_id = $1 and published_at is null",
        [tenant_id.into()],
    ))
    .one(db)
    .await?;
    Ok(row.unwrap_or(Outbox {
        pending: 0,
        oldest_pending_seconds: None,
    }))
}
