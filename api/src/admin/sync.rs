//! How far behind a tenant's changes are: unpublished outbox rows (committed, not yet handed to
//! RabbitMQ) and their age. What waits in the changes queue and the dead letters come from
//! `broker`. The product-side lag is not computed here: the product tables may live in another
//! database the api does not reach.

use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct Outbox {
    /// Changes committed but not yet confirmed by RabbitMQ.
    pub pending: i64,
    pub oldest_pending_seconds: Option<f64>,
}

pub async fn outbox(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Outbox, DbErr> {
    let (pending, oldest_pending_seconds) = crate::outbox::unpublished(db, Some(tenant_id)).await?;
    Ok(Outbox {
        pending,
        oldest_pending_seconds,
    })
}
