//! The fast path: requests hand their committed messages here, and one task publishes them in
//! batches with confirms. Nothing here is needed for correctness (the relay covers every row),
//! only for latency: a change usually reaches RabbitMQ milliseconds after its commit.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::amqp::Publisher;
use shared::amqp::lanes::Lane;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::outage::Outage;
use super::{Enqueued, mark_published};

/// Messages waiting for the dispatcher, per lane; beyond this the relay takes over.
const QUEUE_CAPACITY: usize = 10_000;
const MAX_BATCH: usize = 256;

/// One queue and one publishing task per lane (shared::amqp::lanes), so that a change within its
/// tenant's share never waits here behind another tenant's flood, not even for the confirms of
/// a bulk batch in flight.
#[derive(Clone)]
pub struct Dispatcher {
    publisher: Arc<Publisher>,
    interactive: mpsc::Sender<Enqueued>,
    bulk: mpsc::Sender<Enqueued>,
}

impl Dispatcher {
    /// Queues committed messages for publishing. Never blocks a request: when the queue is full
    /// the rows stay unpublished and the relay sends them.
    pub fn send(&self, items: impl IntoIterator<Item = Enqueued>) {
        for item in items {
            let queue = match self.publisher.lane(item.message.tenant_id) {
                Lane::Interactive => &self.interactive,
                Lane::Bulk => &self.bulk,
            };
            if queue.try_send(item).is_err() {
                metrics::counter!("scim_outbox_dispatch_overflow_total").increment(1);
            }
        }
    }
}

pub fn spawn(
    db: DatabaseConnection,
    publisher: Arc<Publisher>,
    shutdown: CancellationToken,
) -> (Dispatcher, tokio::task::JoinHandle<()>) {
    let (interactive, irx) = mpsc::channel::<Enqueued>(QUEUE_CAPACITY);
    let (bulk, brx) = mpsc::channel::<Enqueued>(QUEUE_CAPACITY);
    let dispatcher = Dispatcher {
        publisher: publisher.clone(),
        interactive,
        bulk,
    };
    let lanes = [(Lane::Interactive, irx), (Lane::Bulk, brx)]
        .map(|(lane, rx)| tokio::spawn(run(db.clone(), publisher.clone(), lane, rx, shutdown.clone())));
    let handle = tokio::spawn(async move {
        for lane in lanes {
            let _ = lane.await;
        }
    });
    (dispatcher, handle)
}

/// Publishes one lane's queue in batches until shutdown, then what is already queued.
async fn run(
    db: DatabaseConnection,
    publisher: Arc<Publisher>,
    lane: Lane,
    mut rx: mpsc::Receiver<Enqueued>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut outage = Outage::default();
    loop {
        let first = tokio::select! {
            item = rx.recv() => item,
            () = shutdown.cancelled() => {
                // Finish what is already queued; the relay of the next start covers the rest.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        if outage.should_try(std::time::Instant::now()) {
            publish(&db, &publisher, lane, &batch, &mut outage).await;
        } else {
            // The broker failed a moment ago: the rows are committed, the relay sends them.
            metrics::counter!("scim_outbox_dispatch_deferred_total").increment(batch.len() as u64);
        }
        batch.clear();
    }
}

async fn publish(
    db: &DatabaseConnection,
    publisher: &Publisher,
    lane: Lane,
    batch: &[Enqueued],
    outage: &mut Outage,
) {
    let messages: Vec<_> = batch.iter().map(|e| e.message.clone()).collect();
    let started = std::time::Instant::now();
    match publisher.publish_in(lane, &messages).await {
        Ok(()) => {
            outage.succeeded("dispatcher");
            metrics::histogram!("scim_publish_confirm_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("scim_outbox_published_total", "path" => "dispatch")
                .increment(batch.len() as u64);
            let ids: Vec<i64> = batch.iter().map(|e| e.outbox_id).collect();
            if let Err(e) = mark_published(db, &ids).await {
                // Published but not marked: the relay will publish again, which consumers ignore.
                tracing::warn!(error = %e, count = ids.len(), "could not mark outbox rows as published");
            }
        }
        Err(e) => {
            metrics::counter!("scim_outbox_publish_failures_total").increment(1);
            outage.failed("dispatcher", &e);
        }
    }
}
