//! RabbitMQ plumbing: connecting, declaring the topology, and a publisher that only reports
//! success once the broker has confirmed (and routed) every message.
//!
//! Topology (names from [`AmqpConfig`]):
//! - `<exchange>` (topic, durable): change messages, routing key `<type>.<operation>`.
//! - `<queue>` (quorum, durable): bound with `#`; its dead letters go to `<exchange>.dlx`.
//! - `<exchange>.bulk` (topic) → `<queue>.bulk` (quorum, like `<queue>`): a tenant's changes
//!   beyond its interactive share ([`lanes`]).
//! - `<exchange>.dlx` (direct) → `<queue>.dead` (quorum): poison messages of both, with the reason.
//!
//! On a cluster the three queues are replicated without asking: RabbitMQ places a quorum queue
//! declared without `x-quorum-initial-group-size` on `quorum_cluster_size` of the cluster's nodes
//! (3 by default, running or not), so on three nodes each queue has a member on every node and
//! keeps working while any one of them is down. The argument is deliberately not set: RabbitMQ
//! compares it when a queue is declared again, so adding it would make every declare against a
//! queue that already exists fail with PRECONDITION_FAILED.

use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::{AmqpConfig, redacted};
use crate::retry::{RetryPolicy, Transience, retry};

pub mod lanes;
pub mod nodes;
pub mod tls;

use lanes::{Lane, Lanes};

/// A redelivery loop (a message that crashes every worker that takes it) ends in the dead-letter
/// queue after this many deliveries.
pub const DELIVERY_LIMIT: i64 = 20;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a goodbye to the broker (closing a connection or channel, cancelling a consumer) may
/// take. lapin can wait forever for the broker's reply when the connection fails at the same
/// moment (a worker once never exited after SIGTERM that way); the broker cleans up after a
/// dropped connection anyway, so nothing depends on the reply.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one goodbye step (a close or cancel), giving up after [`GOODBYE_TIMEOUT`]; its result
/// is not needed either way.
pub async fn goodbye<T>(what: &'static str, step: impl Future<Output = T>) {
    if tokio::time::timeout(GOODBYE_TIMEOUT, step).await.is_err() {
        tracing::warn!(
            step = what,
            "rabbitmq did not answer in time; going on without it"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("rabbitmq: {0}")]
    Lapin(#[from] lapin::Error),
    #[error(transparent)]
    TlsSettings(#[from] tls::TlsSettingsError),
    #[error(transparent)]
    Nodes(#[from] nodes::NodesError),
    #[error("rabbitmq did not answer within {0:?}")]
    Timeout(Duration),
    #[error("rabbitmq closed the consumer")]
    ConsumerClosed,
    #[error("rabbitmq refused message {0}")]
    Nacked(Uuid),
    #[error("message {0} was not routed to any queue (is the queue declared and bound?)")]
    Unroutable(Uuid),
}

impl Transience for AmqpError {
    /// Everything but settings that cannot work (a CA file that is not there): waiting does not
    /// fix those. A refused certificate counts as transient, like any failed connect, since a
    /// server's certificate is renewed without notice.
    fn is_transient(&self) -> bool {
        !matches!(self, AmqpError::TlsSettings(_) | AmqpError::Nodes(_))
    }
}

/// Connects to one node of the broker. `AMQP_URL` may name several ([`nodes`]): they are tried
/// in turn, from where the process's [`nodes::Rotation`] stands, each with a bounded wait (an
/// unreachable host must not hang a caller), and the first that answers is used; the next
/// connect (after this connection failed) starts at the node after it. An `amqps://` URL
/// connects over TLS with the files its query names ([`tls`]); settings that cannot work stop
/// the attempt at once rather than being passed over for another node.
pub async fn connect(cfg: &AmqpConfig, name: &str) -> Result<Connection, AmqpError> {
    connect_rotating(cfg, name, nodes::Rotation::global()).await
}

/// [`connect`] with a rotation of the caller's.
pub async fn connect_rotating(
    cfg: &AmqpConfig,
    name: &str,
    rotation: &nodes::Rotation,
) -> Result<Connection, AmqpError> {
    let nodes = nodes::Nodes::parse(&cfg.amqp_url)?;
    let mut last_error = None;
    for (position, url) in nodes.starting_at(rotation.next_start()) {
        match connect_node(url, name).await {
            Ok(conn) => {
                rotation.connected(position);
                if nodes.len() > 1 {
                    tracing::info!(node = %redacted(url), "connected to rabbitmq node");
                }
                return Ok(conn);
            }
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => {
                if nodes.len() > 1 {
                    tracing::warn!(node = %redacted(url), error = %e, "rabbitmq node unavailable; trying the next");
                }
                last_error = Some(e);
            }
        }
    }
    Err(last_error.expect("a parsed setting names at least one node"))
}

async fn connect_node(url: &str, name: &str) -> Result<Connection, AmqpError> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    let tls = tls::config(url)?;
    let runtime = lapin::runtime::default_runtime()?;
    let connecting = Connection::connect_with_config(url, props, tls, runtime);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(AmqpError::Timeout(CONNECT_TIMEOUT)),
    }
}

/// Connects, waiting with backoff while the broker is not up yet (start-up only).
pub async fn connect_with_retry(cfg: &AmqpConfig, name: &str) -> Result<Connection, AmqpError> {
    retry(RetryPolicy::STARTUP, "connect to rabbitmq", || connect(cfg, name)).await
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_owned()))
}

/// Declares exchanges, queues and bindings. Idempotent; both binaries call it on every
/// (re)connect so that a broker that lost its state is set up again.
pub async fn declare_topology(ch: &Channel, cfg: &AmqpConfig) -> Result<(), AmqpError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dlx = cfg.dead_letter_exchange();
    ch.exchange_declare(
        dlx.as_str().into(),
        ExchangeKind::Direct,
        durable,
        FieldTable::default(),
    )
    .await?;

    let queue_opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dead = cfg.dead_letter_queue();
    ch.queue_declare(
        dead.as_str().into(),
        queue_opts,
        table(&[("x-queue-type", long("quorum"))]),
    )
    .await?;
    ch.queue_bind(
        dead.as_str().into(),
        dlx.as_str().into(),
        dead.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;

    // One exchange and queue per lane (see [`lanes`]), alike but for the names: the same
    // dead-letter route and delivery limit.
    for lane in Lane::ALL {
        let (exchange, queue) = cfg.lane(lane);
        ch.exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
        ch.queue_declare(
            queue.as_str().into(),
            queue_opts,
            table(&[
                ("x-queue-type", long("quorum")),
                ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
                ("x-dead-letter-exchange", long(&dlx)),
                ("x-dead-letter-routing-key", long(&dead)),
            ]),
        )
        .await?;
        ch.queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_id: Uuid,
    pub tenant_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
    /// Also in the body; as a header, broker tooling and the dead-letter list can show it.
    pub traceparent: Option<String>,
}

/// Persistent JSON message with its id and tenant in the properties, so the broker UI and the
/// dead-letter tooling can show them without parsing the body.
pub fn properties(message_id: Uuid, tenant_id: Uuid, extra: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = table(&[("tenant_id", long(&tenant_id.to_string()))]);
    for (k, v) in extra {
        headers.insert(ShortString::from(*k), v.clone());
    }
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(message_id.to_string().into())
        .with_headers(headers)
}

/// Publishes change messages with confirms and `mandatory`, reconnecting lazily: a failure drops
/// the connection and the next call builds a new one (topology included).
pub struct Publisher {
    cfg: AmqpConfig,
    name: String,
    conn: Mutex<Option<(Connection, Channel)>>,
    lanes: Lanes,
    bulk_exchange: String,
}

impl Publisher {
    pub fn new(cfg: AmqpConfig, name: impl Into<String>) -> Self {
        Self {
            bulk_exchange: cfg.bulk_exchange(),
            cfg,
            name: name.into(),
            conn: Mutex::new(None),
            lanes: Lanes::one(),
        }
    }

    /// Sends each tenant's changes beyond `share` to the bulk lane ([`lanes`]).
    pub fn with_share(mut self, share: lanes::Share) -> Self {
        self.lanes = Lanes::new(share);
        self
    }

    pub fn config(&self) -> &AmqpConfig {
        &self.cfg
    }

    /// Whether a usable connection is open right now (does not try to connect).
    pub async fn is_connected(&self) -> bool {
        let guard = self.conn.lock().await;
        guard
            .as_ref()
            .is_some_and(|(c, ch)| c.status().connected() && ch.status().connected())
    }

    /// Returns an open confirming channel, connecting if needed.
    pub async fn channel(&self) -> Result<Channel, AmqpError> {
        let mut guard = self.conn.lock().await;
        if let Some((c, ch)) = guard.as_ref()
            && c.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        if let Some((c, _)) = guard.take() {
            goodbye("close connection", c.close(200, "reconnecting".into())).await;
        }
        let conn = connect(&self.cfg, &self.name).await?;
        let ch = conn.create_channel().await?;
        declare_topology(&ch, &self.cfg).await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        tracing::info!(exchange = %self.cfg.amqp_exchange, "connected to rabbitmq");
        *guard = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        if let Some((c, _)) = self.conn.lock().await.take() {
            goodbye("close connection", c.close(200, "publish failed".into())).await;
        }
    }

    /// Publishes every message (pipelined) and waits for all confirms. `Ok` means the broker has
    /// stored and routed each one; on any error some may still have arrived, which is harmless
    /// because consumers ignore versions they have already applied.
    pub async fn publish(&self, batch: &[Outgoing]) -> Result<(), AmqpError> {
        self.publish_to(None, batch).await
    }

    /// The lane of `tenant`'s next change (takes from its interactive share when there is some
    /// left); for a caller that orders its sending by lane and then publishes with [`Self::publish_in`].
    pub fn lane(&self, tenant: Uuid) -> Lane {
        self.lanes.pick(tenant)
    }

    /// [`Self::publish`] to one lane, already picked with [`Self::lane`].
    pub async fn publish_in(&self, lane: Lane, batch: &[Outgoing]) -> Result<(), AmqpError> {
        self.publish_to(Some(lane), batch).await
    }

    async fn publish_to(&self, lane: Option<Lane>, batch: &[Outgoing]) -> Result<(), AmqpError> {
        let result = self.publish_inner(lane, batch).await;
        if result.is_err() {
            self.reset().await;
        }
        result
    }

    /// Each message to `lane`, or without one to the lane its tenant's share picks.
    async fn publish_inner(&self, lane: Option<Lane>, batch: &[Outgoing]) -> Result<(), AmqpError> {
        if batch.is_empty() {
            return Ok(());
        }
        let ch = self.channel().await?;
        let mut pending = Vec::with_capacity(batch.len());
        for m in batch {
            let traceparent: Vec<_> = m
                .traceparent
                .as_deref()
                .map(|t| ("traceparent", long(t)))
                .into_iter()
                .collect();
            let props = properties(m.message_id, m.tenant_id, &traceparent);
            let lane = lane.unwrap_or_else(|| self.lanes.pick(m.tenant_id));
            let exchange = match lane {
                Lane::Interactive => &self.cfg.amqp_exchange,
                Lane::Bulk => &self.bulk_exchange,
            };
            metrics::counter!("scim_lane_sends_total", "lane" => lane.as_str()).increment(1);
            let confirm = publish_mandatory(&ch, exchange, &m.routing_key, &m.payload, props).await?;
            pending.push((m.message_id, confirm));
        }
        for (id, confirm) in pending {
            confirmed(id, confirm).await?;
        }
        Ok(())
    }
}

/// Publishes with `mandatory`, so that a message no queue takes comes back (basic.return)
/// instead of being confirmed and dropped. Returns the pending confirm, so that a caller can
/// pipeline many publishes before waiting for them with [`confirmed`]. The channel must be in
/// confirm mode.
pub async fn publish_mandatory(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    props: BasicProperties,
) -> Result<PublisherConfirm, AmqpError> {
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    Ok(ch
        .basic_publish(exchange.into(), routing_key.into(), mandatory, payload, props)
        .await?)
}

/// Waits, at most [`CONFIRM_TIMEOUT`], for the broker to confirm message `id`: `Ok` means it
/// was stored and routed. A nack or a returned (unroutable) message is a failure.
pub async fn confirmed(id: Uuid, confirm: PublisherConfirm) -> Result<(), AmqpError> {
    let confirmation = match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        Ok(c) => c?,
        Err(_) => return Err(AmqpError::Timeout(CONFIRM_TIMEOUT)),
    };
    if confirmation.is_nack() {
        return Err(AmqpError::Nacked(id));
    }
    if confirmation.take_message().is_some() {
        return Err(AmqpError::Unroutable(id));
    }
    Ok(())
}

/// [`publish_mandatory`] and [`confirmed`] for one message.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    props: BasicProperties,
    id: Uuid,
) -> Result<(), AmqpError> {
    confirmed(
        id,
        publish_mandatory(ch, exchange, routing_key, payload, props).await?,
    )
    .await
}
