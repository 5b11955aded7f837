//! `scim-worker deliver`: pushes SETs to the push streams (RFC 8935). Each stream is delivered
//! by one deliverer at a time (a lease on its row), in sequence order, one SET per request:
//! - 2xx: delivered; the stream moves on.
//! - 400 with an RFC 8935 `err`: the receiver refuses the SET itself; sending it again cannot
//!   help, so the stream pauses with the reason on the admin page until an operator replays it.
//! - anything else (5xx, 401/403, a timeout, a refused connection): the stream waits, longer
//!   each time (`RetryPolicy::PUSH`, kept on the row so a restart keeps it), and tries the same
//!   SET again, until its events run past their retention.
//!
//! Several deliverers can run; a killed one's streams are taken over when their lease ends.

mod receiver;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use shared::entity::scim_event_stream::Model as Stream;
use shared::events::keys;
use shared::events::set::{self, Envelope, Payload};
use shared::events::{log, streams};
use shared::retry::RetryPolicy;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use receiver::Answer;
pub use receiver::Receiver;

/// Events read per look.
const BATCH: u64 = 100;
/// How often a stream's position is written while it is delivering: a row write per SET would
/// cap a stream at the database's commit rate. A deliverer killed in between sends the SETs
/// since the last write again, which receivers drop by `jti`.
const POSITION_EVERY: Duration = Duration::from_millis(100);
/// Failed pushes whose wait is this short are retried by the task itself, holding the stream:
/// a receiver's passing error (one bad replica behind its load balancer) costs a fraction of a
/// second rather than a round through the stream table. Longer waits are kept on the stream row.
const QUICK_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, clap::Args)]
pub struct DeliverArgs {
    #[command(flatten)]
    pub db: shared::config::DatabaseConfig,
    /// Serve /healthz and /metrics here (e.g. 0.0.0.0:9091); off when unset.
    #[arg(long, env = "WORKER_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Streams delivered at once.
    #[arg(long, env = "EVENTS_PUSH_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// How long a receiver may take to answer one SET.
    #[arg(long, env = "EVENTS_PUSH_TIMEOUT_SECS", default_value_t = 10)]
    pub timeout_secs: u64,
    /// Allow http endpoints and addresses in loopback or private ranges (development, tests).
    #[arg(
        long,
        env = "EVENTS_ALLOW_INSECURE_ENDPOINTS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_insecure_endpoints: bool,
    /// How long a deliverer holds a stream it works on (renewed while it works); a killed
    /// deliverer's streams are taken over after this.
    #[arg(long, env = "EVENTS_PUSH_LEASE_SECS", default_value_t = 30, hide = true)]
    pub lease_secs: u64,
    /// The first wait after a failed push (doubling up to 5 minutes).
    #[arg(
        long,
        env = "EVENTS_PUSH_RETRY_INITIAL_MS",
        default_value_t = 100,
        hide = true
    )]
    pub retry_initial_ms: u64,
    /// How often it looks for streams with work when no change is announced.
    #[arg(long, env = "EVENTS_PUSH_POLL_MS", default_value_t = 500, hide = true)]
    pub poll_ms: u64,
}

/// Runs until `shutdown`: claims streams with work and delivers each in a task of its own.
pub async fn run(args: DeliverArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = shared::db::connect(&args.db).await?;
    if let Some(addr) = &args.http_addr {
        crate::http::serve(addr, shutdown.clone()).await?;
    }
    let receiver = Arc::new(Receiver::new(
        Duration::from_secs(args.timeout_secs),
        args.allow_insecure_endpoints,
    )?);
    let keys = Arc::new(keys::Cache::new(Duration::from_secs(30)));
    let lease = Duration::from_secs(args.lease_secs.max(1));
    let retry = RetryPolicy {
        initial_interval: Duration::from_millis(args.retry_initial_ms.max(1)),
        ..RetryPolicy::PUSH
    };
    let mut wake = shared::events::log::Announcements::listen(args.db.direct_url()).await;
    // Each task delivers one stream; `held` maps the running tasks to their streams.
    let mut running: JoinSet<()> = JoinSet::new();
    let mut held: std::collections::HashMap<tokio::task::Id, uuid::Uuid> = Default::default();
    tracing::info!(concurrency = args.concurrency, "event deliverer started");
    loop {
        let room = args.concurrency.saturating_sub(running.len()) as u64;
        if room > 0 {
            match streams::claim_due(&db, lease, room).await {
                Ok(claimed) => {
                    for stream in claimed {
                        if held.values().any(|s| *s == stream.id) {
                            // Its task let go of it and is ending: claim it again once it has.
                            let _ = streams::release(&db, stream.id).await;
                            continue;
                        }
                        let id = stream.id;
                        let (db, receiver, keys, stop) =
                            (db.clone(), receiver.clone(), keys.clone(), shutdown.clone());
                        let task = running.spawn(async move {
                            if let Err(e) = deliver(&db, &receiver, &keys, (retry, lease), stream, &stop).await {
                                tracing::warn!(stream_id = %id, error = %e, "delivery interrupted; the stream is taken up again when its lease ends");
                            }
                        });
                        held.insert(task.id(), id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not claim event streams"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.next(Duration::from_millis(args.poll_ms)) => {}
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let task = match done {
                    Ok((task, ())) => task,
                    Err(e) => {
                        tracing::error!(error = %e, "a delivery task failed; its stream is taken up again when its lease ends");
                        e.id()
                    }
                };
                held.remove(&task);
            }
        }
    }
    tracing::info!(streams = running.len(), "event deliverer stopping");
    while running.join_next().await.is_some() {}
    Ok(())
}

/// Delivers one stream until it has nothing left, fails, pauses or the deliverer stops.
async fn deliver(
    db: &DatabaseConnection,
    receiver: &Receiver,
    keys: &keys::Cache,
    (retry, lease): (RetryPolicy, Duration),
    mut stream: Stream,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let endpoint = stream.endpoint.clone().unwrap_or_default();
    let payload = Payload::parse(&stream.payload).unwrap_or(Payload::Full);
    let mut renewed = tokio::time::Instant::now();
    // The position delivered up to and not yet written, and when it was last written.
    let mut unwritten = false;
    let mut written = tokio::time::Instant::now();
    loop {
        let events = log::after(db, stream.tenant_id, stream.position, BATCH).await?;
        if events.is_empty() {
            write_position(db, &stream, &mut unwritten).await?;
            streams::release(db, stream.id).await?;
            return Ok(());
        }
        for ev in events {
            if written.elapsed() >= POSITION_EVERY {
                write_position(db, &stream, &mut unwritten).await?;
                written = tokio::time::Instant::now();
            }
            if stop.is_cancelled() {
                write_position(db, &stream, &mut unwritten).await?;
                streams::release(db, stream.id).await?;
                return Ok(());
            }
            if renewed.elapsed() > lease / 3 {
                streams::renew(db, stream.id, lease).await?;
                renewed = tokio::time::Instant::now();
            }
            let Some(sequence) = ev.sequence else { continue };
            if !set::wanted(stream.event_uris.as_deref(), &set::uris(&ev, payload)) {
                stream.position = sequence;
                unwritten = true;
                continue;
            }
            let env = Envelope {
                stream: stream.id,
                payload,
                issuer: &stream.issuer,
                audience: &stream.audience,
            };
            let claims = set::claims(&ev, &env, chrono::Utc::now().timestamp());
            let token = keys.signing(db).await?.sign(&claims);
            let span = (stream.tenant_id, stream.id, sequence);
            let answer = loop {
                let answer = receiver
                    .push(&endpoint, stream.authorization_header.as_deref(), token.clone())
                    .await;
                let Answer::Failed(why) = &answer else {
                    break answer;
                };
                let attempts = stream.attempts.saturating_add(1);
                let wait = retry.delay_after(u32::try_from(attempts).unwrap_or(u32::MAX));
                if wait > QUICK_RETRY || stop.is_cancelled() {
                    break answer;
                }
                tracing::info!(tenant_id = %span.0, stream_id = %span.1, sequence, attempts, wait_ms = wait.as_millis() as u64, error = %why, "push failed; trying again shortly");
                metrics::counter!("scim_events_push_failures_total").increment(1);
                stream.attempts = attempts;
                tokio::time::sleep(wait).await;
            };
            match answer {
                Answer::Accepted => {
                    stream.position = sequence;
                    stream.attempts = 0;
                    unwritten = true;
                    metrics::counter!("scim_events_pushed_total").increment(1);
                }
                Answer::Refused { err, description } => {
                    let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
                    let reason = match &description {
                        Some(d) => format!("the receiver refused SET {sequence} ({jti}): {err}: {d}"),
                        None => format!("the receiver refused SET {sequence} ({jti}): {err}"),
                    };
                    tracing::warn!(tenant_id = %span.0, stream_id = %span.1, sequence, err = %err, "event stream paused: the receiver refused a SET");
                    write_position(db, &stream, &mut unwritten).await?;
                    streams::record_errors(
                        db,
                        stream.id,
                        &[streams::Reported {
                            jti,
                            err,
                            description,
                        }],
                    )
                    .await?;
                    streams::pause(db, stream.id, &reason).await?;
                    return Ok(());
                }
                Answer::Failed(why) => {
                    let attempts = stream.attempts.saturating_add(1);
                    let wait = retry.delay_after(u32::try_from(attempts).unwrap_or(u32::MAX));
                    let retry_at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::info!(tenant_id = %span.0, stream_id = %span.1, sequence, attempts, wait_ms = wait.as_millis() as u64, error = %why, "push failed; the stream waits and tries again");
                    metrics::counter!("scim_events_push_failures_total").increment(1);
                    write_position(db, &stream, &mut unwritten).await?;
                    streams::failed(db, stream.id, attempts, retry_at, &why).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// Writes the stream's position if it moved since it was last written.
async fn write_position(
    db: &DatabaseConnection,
    stream: &Stream,
    unwritten: &mut bool,
) -> Result<(), sea_orm::DbErr> {
    if std::mem::take(unwritten) {
        streams::delivered(db, stream.id, stream.position).await?;
    }
    Ok(())
}
