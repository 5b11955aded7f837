//! The relay: periodically publishes outbox rows that are still unpublished after a grace
//! period, oldest first, and purges published rows past their retention. Several api replicas
//! can run it at once: rows are claimed with `FOR UPDATE SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use shared::amqp::{Outgoing, Publisher};
use tokio_util::sync::CancellationToken;

use super::outage::Outage;
use super::{claim_unpublished, mark_published, purge_published, unpublished};

const BATCH: u64 = 500;
/// Published rows deleted per run: bounded, so a large backlog never makes one long statement.
const PURGE_LIMIT: u64 = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    pub interval: Duration,
    /// Rows younger than this are left to the dispatcher.
    pub grace: Duration,
    /// Published rows are kept this long (for inspection), then deleted.
    pub retention: Duration,
}

pub fn spawn(
    db: DatabaseConnection,
    publisher: Arc<Publisher>,
    cfg: RelayConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut outage = Outage::default();
        loop {
            match run_once(&db, &publisher, cfg).await {
                Ok(n) => {
                    outage.succeeded("outbox relay");
                    if n > 0 {
                        tracing::info!(published = n, "outbox relay published leftover changes");
                    }
                }
                Err(e) => outage.failed("outbox relay", &e),
            }
            if let Err(e) = report_backlog(&db).await {
                tracing::debug!(error = %e, "could not measure outbox backlog");
            }
            tokio::select! {
                () = tokio::time::sleep(cfg.interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Amqp(#[from] shared::amqp::AmqpError),
}

/// Publishes every unpublished row older than the grace period; returns how many.
pub async fn run_once(
    db: &DatabaseConnection,
    publisher: &Publisher,
    cfg: RelayConfig,
) -> Result<usize, RelayError> {
    let mut total = 0;
    loop {
        let txn = db.begin().await?;
        let rows = claim_unpublished(&txn, cfg.grace, BATCH).await?;
        if rows.is_empty() {
            txn.commit().await?;
            break;
        }
        let (ids, batch): (Vec<i64>, Vec<Outgoing>) = rows
            .into_iter()
            .map(|(id, message_id, tenant_id, routing_key, payload, traceparent)| {
                let message = Outgoing {
                    message_id,
                    tenant_id,
                    routing_key,
                    payload: payload.into_bytes(),
                    traceparent,
                };
                (id, message)
            })
            .unzip();
        publisher.publish(&batch).await?;
        mark_published(&txn, &ids).await?;
        txn.commit().await?;
        metrics::counter!("scim_outbox_published_total", "path" => "relay").increment(ids.len() as u64);
        total += ids.len();
        if (ids.len() as u64) < BATCH {
            break;
        }
    }
    purge_published(db, cfg.retention, PURGE_LIMIT).await?;
    Ok(total)
}

async fn report_backlog(db: &DatabaseConnection) -> Result<(), DbErr> {
    let (n, oldest) = unpublished(db, None).await?;
    metrics::gauge!("scim_outbox_backlog").set(n as f64);
    metrics::gauge!("scim_outbox_oldest_unpublished_seconds").set(oldest.unwrap_or(0.0));
    Ok(())
}
