//! The relay: periodically publishes outbox rows that are still unpublished after a grace
//! period, oldest first, and purges published rows past their retention. Several api replicas
//! can run it at once: rows are claimed with `FOR UPDATE SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use shared::amqp::{Outgoing, Publisher};
use shared::db::stmt;
use tokio_util::sync::CancellationToken;

use super::mark_published;
use super::outage::Outage;

const BATCH: i64 = 500;

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
        let rows = txn
            .query_all_raw(stmt(
                "select id, message_id, tenant_id, routing_key, payload::text as payload,
                        payload->>'traceparent' as traceparent
                 from scim.outbox
                 where published_at is null and created_at < now() - make_interval(secs => $1)
                 order by id limit $2
                 for update skip locked",
                [cfg.grace.as_secs_f64().into(), BATCH.into()],
            ))
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            break;
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut batch = Vec::with_capacity(rows.len());
        for r in &rows {
            ids.push(r.try_get::<i64>("", "id")?);
            let payload: String = r.try_get("", "payload")?;
            batch.push(Outgoing {
                message_id: r.try_get("", "message_id")?,
                tenant_id: r.try_get("", "tenant_id")?,
                routing_key: r.try_get("", "routing_key")?,
                payload: payload.into_bytes(),
                traceparent: r.try_get("", "traceparent")?,
            });
        }
        publisher.publish(&batch).await?;
        mark_published(&txn, &ids).await?;
        txn.commit().await?;
        metrics::counter!("scim_outbox_published_total", "path" => "relay").increment(ids.len() as u64);
        total += ids.len();
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    purge(db, cfg.retention).await?;
    Ok(total)
}

async fn purge(db: &DatabaseConnection, retention: Duration) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "delete from scim.outbox where id in (
             select id from scim.outbox
             where published_at is not null and published_at < now() - make_interval(secs => $1)
             limit 10000)",
        [retention.as_secs_f64().into()],
    ))
    .await
    .map(|_| ())
}

async fn report_backlog(db: &DatabaseConnection) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(stmt(
            "select count(*) as n, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as age
             from scim.outbox where published_at is null",
            [],
        ))
        .await?;
    if let Some(r) = row {
        metrics::gauge!("scim_outbox_backlog").set(r.try_get::<i64>("", "n")? as f64);
        metrics::gauge!("scim_outbox_oldest_unpublished_seconds").set(r.try_get::<f64>("", "age")?);
    }
    Ok(())
}
