//! The consuming loop: a supervisor that (re)builds connection, channels and consumer whenever
//! the stream ends, applies deliveries in batches of whatever has arrived (a few batches at a
//! time, bounded by the prefetch), acks each one only after its database commit, and on shutdown
//! stops taking new deliveries, finishes the ones in flight, and closes cleanly.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use shared::amqp::lanes::Lane;
use shared::amqp::{self, AmqpError};
use shared::config::AmqpConfig;
use shared::fault::Faults;
use shared::messages;
use shared::retry::{RetryPolicy, Transience, retry};
use shared::trace::TraceParent;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::apply::{Applier, BatchKey};
use sea_orm::DbErr;
use shared::dlq;
use shared::events::completions::{self, Settled};

/// Deliveries taken into one batch at most.
const BATCH_MAX: usize = 64;
/// Batches one worker applies at once; each holds a database connection while it runs. Two keep
/// the connection busy while the other batch's results travel; more only made batches of
/// different workers wait on each other's key locks (scim-bench, 2 cores: 4 workers drained
/// 2,475 users/s with four in flight each, 2,981 with two).
const BATCHES_IN_FLIGHT: usize = 2;

pub struct Worker {
    pub applier: Applier,
    /// The directory, where completions of asynchronous requests are recorded.
    pub directory: sea_orm::DatabaseConnection,
    pub amqp: AmqpConfig,
    pub prefetch: u16,
    pub shutdown: CancellationToken,
    /// Test-only hooks (none in production builds): a hold between commit and ack lets a test
    /// kill the worker in between.
    pub faults: Faults,
}

struct Ctx {
    applier: Applier,
    directory: sea_orm::DatabaseConnection,
    amqp: AmqpConfig,
    dlq_channel: Channel,
    faults: Faults,
}

impl Worker {
    /// Runs until shutdown; reconnects with capped backoff whenever the broker goes away.
    pub async fn run(self) {
        const FIRST_WAIT: Duration = Duration::from_millis(200);
        let mut wait = FIRST_WAIT;
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.session().await {
                Ok(()) => return,
                Err(Lost { error, was_consuming }) => {
                    // The backoff is for a broker that cannot be reached or will not let us
                    // consume; a consumer that ran and was then lost (its node stopped) starts
                    // over, so that the next node of a cluster is tried at once however many
                    // outages came before.
                    if was_consuming {
                        wait = FIRST_WAIT;
                    }
                    metrics::counter!("scim_worker_reconnects_total").increment(1);
                    tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "lost rabbitmq; reconnecting");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.cancelled() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    /// One connection's lifetime. `Ok` means shutdown was requested and everything finished.
    async fn session(&self) -> Result<(), Lost> {
        let conn = amqp::connect(&self.amqp, "scim-worker")
            .await
            .map_err(|error| Lost {
                error,
                was_consuming: false,
            })?;
        let consuming = AtomicBool::new(false);
        let result = self.consume(&conn, &consuming).await;
        amqp::goodbye("close connection", conn.close(200, "bye".into())).await;
        result.map_err(|error| Lost {
            error,
            was_consuming: consuming.load(Ordering::Relaxed),
        })
    }

    /// Sets `consuming` once the broker accepted a consumer.
    async fn consume(&self, conn: &Connection, consuming: &AtomicBool) -> Result<(), AmqpError> {
        let setup = conn.create_channel().await?;
        amqp::declare_topology(&setup, &self.amqp).await?;
        amqp::goodbye("close channel", setup.close(200, "declared".into())).await;
        let dlq_channel = conn.create_channel().await?;
        dlq_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let ctx = Arc::new(Ctx {
            applier: self.applier.clone(),
            directory: self.directory.clone(),
            amqp: self.amqp.clone(),
            dlq_channel,
            faults: self.faults,
        });
        // Both lanes at once, each with its own channel, prefetch and batches in flight, so the
        // bulk lane's backlog never holds up the main queue (see shared::amqp::lanes). When one
        // lane's consumer fails, the other stops too and the session reconnects.
        let failed = self.shutdown.child_token();
        let results = join_all(Lane::ALL.map(|lane| {
            let (ctx, failed) = (ctx.clone(), failed.clone());
            async move {
                let result = self.consume_lane(conn, ctx, lane, &failed, consuming).await;
                if result.is_err() {
                    failed.cancel();
                }
                result
            }
        }))
        .await;
        results.into_iter().collect()
    }

    /// Consumes one lane's queue until shutdown (`Ok`) or until its consumer fails or `stop`
    /// (the other lane failed) is cancelled; finishes what is in flight either way.
    async fn consume_lane(
        &self,
        conn: &Connection,
        ctx: Arc<Ctx>,
        lane: Lane,
        stop: &CancellationToken,
        consuming: &AtomicBool,
    ) -> Result<(), AmqpError> {
        let (_, queue) = self.amqp.lane(lane);
        let ch = conn.create_channel().await?;
        ch.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
        let tag = format!(
            "scim-worker-{}-{}-{}",
            lane.as_str(),
            std::process::id(),
            uuid::Uuid::now_v7()
        );
        let mut consumer = ch
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        consuming.store(true, Ordering::Relaxed);
        tracing::info!(%queue, lane = lane.as_str(), prefetch = self.prefetch, "consuming");
        let mut in_flight = JoinSet::new();
        let outcome = loop {
            tokio::select! {
                () = stop.cancelled() => break Ok(()),
                next = consumer.next(), if in_flight.len() < BATCHES_IN_FLIGHT => match next {
                    Some(Ok(delivery)) => {
                        // Whatever else has arrived joins this one: under load the deliveries
                        // pile up (up to the prefetch) while the batches in flight run.
                        let mut batch = vec![delivery];
                        let mut ended = None;
                        while batch.len() < BATCH_MAX {
                            match consumer.next().now_or_never() {
                                Some(Some(Ok(d))) => batch.push(d),
                                Some(Some(Err(e))) => { ended = Some(AmqpError::from(e)); break; }
                                Some(None) => { ended = Some(AmqpError::ConsumerClosed); break; }
                                None => break,
                            }
                        }
                        let ctx = ctx.clone();
                        in_flight.spawn(async move { handle_batch(&ctx, batch).await });
                        if let Some(e) = ended {
                            break Err(e);
                        }
                    }
                    Some(Err(e)) => break Err(AmqpError::from(e)),
                    None => break Err(AmqpError::ConsumerClosed),
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        };
        if outcome.is_ok() {
            // Stop deliveries first, so nothing new arrives while in-flight work finishes.
            amqp::goodbye(
                "cancel consumer",
                ch.basic_cancel(tag.as_str().into(), Default::default()),
            )
            .await;
        }
        let n = in_flight.len();
        if n > 0 {
            tracing::info!(
                in_flight = n,
                lane = lane.as_str(),
                "finishing in-flight messages"
            );
        }
        while in_flight.join_next().await.is_some() {}
        amqp::goodbye("close channel", ch.close(200, "bye".into())).await;
        outcome
    }
}

/// Why a session ended without a shutdown.
struct Lost {
    error: AmqpError,
    /// Whether the consumer had been running, as opposed to no node answering or letting us
    /// consume.
    was_consuming: bool,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Poison(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// The change is applied but its asynchronous request's completion could not be recorded:
    /// requeued, so that the repeat (a no-op apply) records it.
    #[error("could not record an asynchronous request's completion: {0}")]
    Completion(String),
}

impl Transience for Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Db(e) => e.is_transient(),
            Failure::Completion(_) => true,
            Failure::Poison(_) => false,
        }
    }
}

/// Handles deliveries that arrived together. User changes of distinct users are applied in one
/// transaction, and membership changes of distinct pairs in another; everything else, and every
/// change of a batch that failed, goes one by one (concurrently), where retries, requeues and
/// dead-lettering are decided per change.
async fn handle_batch(ctx: &Ctx, deliveries: Vec<Delivery>) {
    let started = std::time::Instant::now();
    let (mut users, mut reapplied, mut memberships, mut singles) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for d in deliveries {
        let Ok(msg) = messages::decode(&d.data) else {
            singles.push(d);
            continue;
        };
        match BatchKey::of(&msg) {
            Some(key @ BatchKey::User(_)) if seen.insert(key) => users.push((d, msg)),
            Some(key @ BatchKey::Reapplied(_)) if seen.insert(key) => reapplied.push((d, msg)),
            Some(key @ BatchKey::Membership { .. }) if seen.insert(key) => memberships.push((d, msg)),
            _ => singles.push(d),
        }
    }
    for batch in [&mut users, &mut reapplied, &mut memberships] {
        if batch.len() == 1 {
            singles.extend(batch.drain(..).map(|(d, _)| d));
        }
    }
    tokio::join!(
        apply_batch(ctx, users, started),
        apply_batch(ctx, reapplied, started),
        apply_batch(ctx, memberships, started),
        join_all(singles.into_iter().map(|d| handle(ctx, d)))
    );
}

/// Applies one batch (see [`Applier::apply_batch`]) and settles its deliveries, or hands them to
/// [`handle`] one by one when the batch fails.
async fn apply_batch(
    ctx: &Ctx,
    batch: Vec<(Delivery, messages::ChangeMessage)>,
    started: std::time::Instant,
) {
    if batch.is_empty() {
        return;
    }
    let msgs: Vec<&messages::ChangeMessage> = batch.iter().map(|(_, m)| m).collect();
    match ctx.applier.apply_batch(&msgs).await {
        Ok(outcomes) => {
            metrics::histogram!("scim_worker_batch_size").record(batch.len() as f64);
            tracing::debug!(
                changes = batch.len(),
                ms = started.elapsed().as_millis() as u64,
                "batch applied"
            );
            let completed = complete(ctx, msgs.iter().copied(), None).await;
            for ((delivery, msg), outcome) in batch.into_iter().zip(outcomes) {
                record_lag(&msg);
                let span = apply_span(Some(&msg));
                let result = completed
                    .as_ref()
                    .map(|()| outcome.as_str())
                    .map_err(|e| Failure::Completion(e.to_string()));
                settle(ctx, &delivery, result, started).instrument(span).await;
            }
        }
        Err(e) => {
            tracing::warn!(changes = batch.len(), error = %e, "batch failed; applying its changes one by one");
            join_all(batch.into_iter().map(|(d, _)| handle(ctx, d))).await;
        }
    }
}

/// The `apply` span of one change. It is made here rather than by `#[instrument]` because, when
/// spans are exported, it has to be parented on the message's `traceparent` before it is first
/// entered.
fn apply_span(msg: Option<&messages::ChangeMessage>) -> tracing::Span {
    let span = tracing::info_span!(
        "apply",
        message_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
        scim_id = tracing::field::Empty,
        version = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    if let Some(msg) = msg {
        span.record("message_id", tracing::field::display(msg.message_id));
        span.record("tenant_id", tracing::field::display(msg.tenant_id));
        span.record("scim_id", tracing::field::display(msg.resource_id));
        span.record("version", msg.version);
        // The api request that made the change: same trace_id in both processes' logs, and the
        // parent of this span in the exported trace.
        if let Some(t) = msg.traceparent.as_deref().and_then(TraceParent::parse) {
            span.record("trace_id", t.trace_id_hex());
            span.record("parent_span_id", t.parent_id_hex());
            shared::telemetry::set_parent(&span, &t);
        }
    }
    span
}

/// Handles one delivery in its `apply` span.
async fn handle(ctx: &Ctx, delivery: Delivery) {
    let started = std::time::Instant::now();
    let decoded = messages::decode(&delivery.data);
    let span = apply_span(decoded.as_ref().ok());
    handle_decoded(ctx, delivery, decoded, started)
        .instrument(span)
        .await;
}

/// Records the end-to-end lag of an applied change: accepted by the api → committed here.
fn record_lag(msg: &messages::ChangeMessage) {
    let lag = (chrono::Utc::now() - msg.occurred_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::histogram!("scim_worker_end_to_end_lag_seconds").record(lag);
}

async fn handle_decoded(
    ctx: &Ctx,
    delivery: Delivery,
    decoded: Result<messages::ChangeMessage, messages::DecodeError>,
    started: std::time::Instant,
) {
    let result = match decoded {
        Err(e) => Err(Failure::Poison(e.to_string())),
        Ok(msg) => {
            let r = retry(RetryPolicy::APPLY, "apply change", || async {
                ctx.applier.apply(&msg).await.map_err(Failure::from)
            })
            .await;
            match r {
                Ok(outcome) => {
                    record_lag(&msg);
                    complete(ctx, [&msg], None)
                        .await
                        .map(|()| outcome.as_str())
                        .map_err(|e| Failure::Completion(e.to_string()))
                }
                // About to be dead-lettered: its asynchronous request completes with the
                // failure first (a recording that fails requeues it, to be tried again).
                Err(e) if !e.is_transient() => match complete(ctx, [&msg], Some(&e)).await {
                    Ok(()) => Err(e),
                    Err(db) => Err(Failure::Completion(db.to_string())),
                },
                Err(e) => Err(e),
            }
        }
    };
    settle(ctx, &delivery, result, started).await;
}

/// Settles the messages of asynchronous requests among `msgs` (applied, or about to be
/// dead-lettered with `failure`); ordinary messages cost nothing here. On an error the caller
/// requeues, and the repeat is harmless.
async fn complete<'a>(
    ctx: &Ctx,
    msgs: impl IntoIterator<Item = &'a messages::ChangeMessage>,
    failure: Option<&Failure>,
) -> Result<(), DbErr> {
    let settled: Vec<Settled> = msgs
        .into_iter()
        .filter_map(|m| {
            Some(Settled {
                txn: m.txn?,
                message_id: m.message_id,
                failure: failure.map(|f| f.to_string()),
            })
        })
        .collect();
    if settled.is_empty() {
        return Ok(());
    }
    completions::settle(&ctx.directory, &settled).await?;
    for s in &settled {
        tracing::debug!(txn = %s.txn, failed = s.failure.is_some(), "asynchronous request settled");
    }
    Ok(())
}

/// Acks, requeues or dead-letters a delivery according to its result, and counts it.
async fn settle(
    ctx: &Ctx,
    delivery: &Delivery,
    result: Result<&'static str, Failure>,
    started: std::time::Instant,
) {
    metrics::histogram!("scim_worker_apply_seconds").record(started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok(outcome) => {
            tracing::info!(outcome, "change handled");
            ctx.faults.before_ack().await;
            ack(delivery).await;
            outcome
        }
        Err(e) if e.is_transient() => {
            // The change is fine, the database is not: put it back rather than dead-letter it.
            tracing::warn!(error = %e, "database still unavailable; requeueing");
            requeue(delivery).await
        }
        Err(e) => {
            let reason = e.to_string();
            match dlq::publish(&ctx.dlq_channel, &ctx.amqp, delivery, &reason).await {
                Ok(()) => {
                    tracing::error!(reason, "message dead-lettered");
                    ack(delivery).await;
                    "dead_lettered"
                }
                Err(pe) => {
                    tracing::error!(reason, error = %pe, "could not dead-letter; requeueing");
                    requeue(delivery).await
                }
            }
        }
    };
    metrics::counter!("scim_worker_messages_total", "outcome" => outcome).increment(1);
}

/// Puts the message back for another attempt (here or on another worker).
async fn requeue(d: &Delivery) -> &'static str {
    if let Err(e) = d
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
    {
        tracing::warn!(error = %e, "nack failed; the broker redelivers when the channel closes");
    }
    "requeued"
}

async fn ack(d: &Delivery) {
    // A failed ack means the channel is gone; the broker redelivers and the version check
    // makes the second apply a no-op.
    if let Err(e) = d.ack(BasicAckOptions::default()).await {
        tracing::warn!(error = %e, "ack failed; the message will be redelivered");
    }
}
