//! Command line and environment configuration of `scim-worker`.

use clap::{Args, Parser, Subcommand};
use shared::config::{AmqpConfig, DatabaseConfig, LogConfig};

#[derive(Parser, Debug)]
#[command(
    name = "scim-worker",
    version,
    about = "Applies SCIM changes from RabbitMQ to the product database"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub log: LogConfig,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Consume and apply changes until SIGTERM (the default).
    Run(Box<RunArgs>),
    /// Compare the directory with product.* field by field; print each difference (one JSON
    /// object per line, then a summary) and exit 1 if there is any.
    Verify(DirectoryArgs),
    /// Re-derive product.* from the directory (repair after a restore or a bug); idempotent.
    Reconcile(DirectoryArgs),
    /// Push change events (SETs) to the tenants' push streams (RFC 8935) until SIGTERM.
    Deliver(Box<crate::deliver::DeliverArgs>),
    /// Inspect or replay dead-lettered changes.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Exit 0 if the worker's HTTP endpoint at URL answers 200 (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9091/healthz")]
        url: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// Print each dead letter (id, reason, attempts, ids; never the body) as a JSON line, then a
    /// count. The letters stay in the queue.
    List(AmqpArgs),
    /// Send dead letters back to the workers' queue.
    Replay {
        #[command(flatten)]
        amqp: AmqpArgs,
        /// The dead-letter id (or message id) printed by `dlq list`.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct AmqpArgs {
    #[command(flatten)]
    pub amqp: AmqpConfig,
}

#[derive(Args, Debug, Clone)]
pub struct DirectoryArgs {
    /// The SCIM directory (read-only here).
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// Postgres URL of the product database (defaults to DATABASE_URL).
    #[arg(long, env = "PRODUCT_DATABASE_URL")]
    pub product_database_url: Option<String>,

    /// Only this tenant (default: every tenant).
    #[arg(long)]
    pub tenant: Option<uuid::Uuid>,
}

impl DirectoryArgs {
    pub fn product_db(&self) -> DatabaseConfig {
        product_db(&self.db, self.product_database_url.as_deref())
    }
}

fn product_db(db: &DatabaseConfig, url: Option<&str>) -> DatabaseConfig {
    let mut cfg = db.clone();
    if let Some(url) = url {
        cfg.database_url = url.to_owned();
    }
    cfg
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// Postgres URL of the product database (defaults to DATABASE_URL).
    #[arg(long, env = "PRODUCT_DATABASE_URL")]
    pub product_database_url: Option<String>,

    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Unacknowledged messages this worker holds at once; bounds memory and parallel applies.
    #[arg(long, env = "WORKER_PREFETCH", default_value_t = 256)]
    pub prefetch: u16,

    /// Where to serve /healthz and /metrics (e.g. 0.0.0.0:9091); off when unset.
    #[arg(long, env = "WORKER_HTTP_ADDR")]
    pub http_addr: Option<String>,

    /// Test-only hooks (`SCIM_FAULT_*`), present only in test builds (see `shared::fault`).
    #[command(flatten)]
    pub faults: shared::fault::Faults,
}

impl RunArgs {
    pub fn product_db(&self) -> DatabaseConfig {
        product_db(&self.db, self.product_database_url.as_deref())
    }

    /// Settings for a bare `scim-worker`: everything from the environment.
    pub fn from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: RunArgs,
        }
        shared::secrets::parse_from::<Only>(["scim-worker"]).args
    }
}
