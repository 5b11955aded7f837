//! The admin page's view of RabbitMQ: how many changes wait for workers, how many workers
//! consume, and a tenant's dead letters (listed and retried with `shared::dlq`, the same code as
//! `scim-worker dlq`). Each call opens a short-lived connection of its own, so a failing passive
//! declare or a slow sweep never touches the api's publishing channel, and calls in this process
//! run one at a time so that two page views do not hide letters from each other mid-sweep.

use std::time::Duration;

use lapin::{Channel, Connection};
use serde::Serialize;
use shared::amqp::{self, AmqpError};
use shared::config::AmqpConfig;
use shared::dlq::{self, DeadLetter, QueueDepth, Select};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::error::AdminError;

/// A listing takes each letter off the queue and puts it back: bound the work per page view.
pub const MAX_EXAMINED: usize = 1_000;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Broker {
    cfg: AmqpConfig,
    one_at_a_time: Mutex<()>,
}

/// What the page shows about the queues for one tenant.
#[derive(Debug, Serialize)]
pub struct TenantQueues {
    /// Changes of every tenant waiting for a worker, and workers consuming.
    pub changes_queue: QueueDepth,
    /// The bulk lane's (shared::amqp::lanes).
    pub bulk_queue: QueueDepth,
    /// Dead letters of every tenant.
    pub dead_letters_total: u32,
    /// How many of them were looked at to find this tenant's (at most [`MAX_EXAMINED`]).
    pub examined: usize,
    pub dead_letters: Vec<DeadLetter>,
}

impl Broker {
    pub fn new(cfg: AmqpConfig) -> Self {
        Self {
            cfg,
            one_at_a_time: Mutex::new(()),
        }
    }

    pub async fn tenant_queues(&self, tenant_id: Uuid) -> Result<TenantQueues, AdminError> {
        let tenant = tenant_id.to_string();
        self.call(|ch, cfg| async move {
            let changes_queue = dlq::queue_depth(&ch, &cfg.amqp_queue).await?;
            let bulk_queue = dlq::queue_depth(&ch, &cfg.bulk_queue()).await?;
            let listing = dlq::list_first(&ch, &cfg, MAX_EXAMINED).await?;
            let examined = listing.letters.len();
            let dead_letters = listing
                .letters
                .into_iter()
                .filter(|l| l.tenant_id.as_deref() == Some(tenant.as_str()))
                .collect();
            Ok(TenantQueues {
                changes_queue,
                bulk_queue,
                dead_letters_total: listing.depth,
                examined,
                dead_letters,
            })
        })
        .await
    }

    /// Sends one of the tenant's dead letters back to the workers.
    pub async fn retry(&self, tenant_id: Uuid, letter: &str) -> Result<(), AdminError> {
        let select = Select::TenantLetter {
            tenant_id,
            id: letter.to_owned(),
        };
        let n = self
            .call(|ch, cfg| async move { dlq::replay(&ch, &cfg, &select).await })
            .await?;
        if n == 0 {
            return Err(AdminError::UnknownLetter(letter.to_owned()));
        }
        tracing::info!(%tenant_id, replayed = n, "dead letter retried from the admin page");
        Ok(())
    }

    async fn call<T, F, Fut>(&self, f: F) -> Result<T, AdminError>
    where
        F: FnOnce(Channel, AmqpConfig) -> Fut,
        Fut: Future<Output = Result<T, AmqpError>>,
    {
        let _turn = self.one_at_a_time.lock().await;
        let work = async {
            let conn = amqp::connect(&self.cfg, "scim-api admin").await?;
            let result = on_channel(&conn, &self.cfg, f).await;
            shared::amqp::goodbye("close connection", conn.close(200, "bye".into())).await;
            result
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(AdminError::BrokerTimeout),
        }
    }
}

async fn on_channel<T, F, Fut>(conn: &Connection, cfg: &AmqpConfig, f: F) -> Result<T, AmqpError>
where
    F: FnOnce(Channel, AmqpConfig) -> Fut,
    Fut: Future<Output = Result<T, AmqpError>>,
{
    let ch = conn.create_channel().await?;
    // The queues may not exist yet on a fresh broker; declaring is idempotent.
    amqp::declare_topology(&ch, cfg).await?;
    ch.confirm_select(Default::default()).await?;
    f(ch, cfg.clone()).await
}
