//! The sequencer numbers committed event rows per tenant: 1, 2, 3... with no gap, in the order
//! it sees them committed. Rows are written in their change's transaction without a number (a
//! per-tenant counter there would serialise every write of a tenant on one row lock until
//! commit); the sequencer numbers what has committed since its last run, under the tenant's
//! counter row lock, so several api replicas never number the same tenant at once.
//!
//! Why per-resource order holds: a change locks its resource's row before writing its event,
//! so the next change of that resource writes its event row only after the previous one
//! committed; by the time the later row is visible, the earlier one is too, with a lower id,
//! and a batch is numbered in id order.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::log;

#[derive(Debug, Clone, Copy)]
pub struct SequencerConfig {
    /// How often it looks for rows other replicas committed (its own commits wake it at once).
    pub interval: Duration,
    /// Events older than this are deleted, delivered or not.
    pub retention: Duration,
}

/// Wakes the sequencer (a commit here) and those waiting for new numbers (long polls).
#[derive(Default)]
pub struct Signals {
    committed: Notify,
    sequenced: Notify,
}

impl Signals {
    /// A change with an event row committed.
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Resolves when the sequencer next numbers something.
    pub async fn sequenced(&self) {
        self.sequenced.notified().await;
    }
}

pub fn spawn(
    db: DatabaseConnection,
    signals: Arc<Signals>,
    cfg: SequencerConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Warned once per outage, not once per run.
        let mut failing = false;
        let mut last_purge = tokio::time::Instant::now();
        loop {
            match log::number_committed(&db).await {
                Ok(n) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("event sequencer works again");
                    }
                    if n > 0 {
                        signals.sequenced.notify_waiters();
                        metrics::counter!("scim_events_sequenced_total").increment(n);
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "event sequencer failed; committed events wait for their numbers");
                }
                Err(e) => tracing::debug!(error = %e, "event sequencer failed again"),
            }
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = tokio::time::Instant::now();
                match log::purge(&db, cfg.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "events past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "could not purge old events"),
                }
                match shared::events::completions::purge(&db, cfg.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "asynchronous requests past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "could not purge old asynchronous requests"),
                }
            }
            tokio::select! {
                () = signals.committed.notified() => {}
                () = tokio::time::sleep(cfg.interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    })
}
