//! Configuration pieces both binaries read from the environment. Each binary composes these
//! `clap::Args` into its own config struct, parsed once in `main`; tests build them directly.

use clap::{Args, ValueEnum};
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/scim_relay";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_EXCHANGE: &str = "scim.changes";
pub const DEFAULT_QUEUE: &str = "scim.changes.apply";

/// Where the SCIM directory (tenants, tokens, users, outbox) lives.
#[derive(Args, Debug, Clone)]
pub struct DatabaseConfig {
    /// Postgres URL of the SCIM directory.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Upper bound of pooled connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// How long a request waits for a pooled connection before it fails with 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub database_acquire_timeout_ms: u64,

    /// Postgres `statement_timeout` of every pooled connection; set by the binary that owns the
    /// pool (the api bounds its statements; the worker's reconcile may run long).
    #[arg(skip)]
    pub statement_timeout: Option<Duration>,
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            database_url: url.into(),
            database_max_connections: 10,
            database_acquire_timeout_ms: 5_000,
            statement_timeout: None,
        }
    }

    pub fn with_statement_timeout(mut self, limit: Option<Duration>) -> Self {
        self.statement_timeout = limit;
        self
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.database_acquire_timeout_ms)
    }
}

/// The broker and the names of the topology on it. The names are configurable so that several
/// deployments (or parallel tests) can share one broker without seeing each other's messages.
#[derive(Args, Debug, Clone)]
pub struct AmqpConfig {
    /// AMQP URL of RabbitMQ (the vhost is the URL's path, `%2f` for `/`).
    #[arg(long, env = "AMQP_URL", default_value = DEFAULT_AMQP_URL)]
    pub amqp_url: String,

    /// Topic exchange that change messages are published to.
    #[arg(long, env = "AMQP_EXCHANGE", default_value = DEFAULT_EXCHANGE)]
    pub amqp_exchange: String,

    /// Queue the workers consume; its dead-letter queue is `<queue>.dead`.
    #[arg(long, env = "AMQP_QUEUE", default_value = DEFAULT_QUEUE)]
    pub amqp_queue: String,
}

impl AmqpConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            amqp_url: url.into(),
            amqp_exchange: DEFAULT_EXCHANGE.to_owned(),
            amqp_queue: DEFAULT_QUEUE.to_owned(),
        }
    }

    pub fn with_names(mut self, exchange: impl Into<String>, queue: impl Into<String>) -> Self {
        self.amqp_exchange = exchange.into();
        self.amqp_queue = queue.into();
        self
    }

    /// Exchange that dead letters are published to (direct, bound to the dead-letter queue).
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.amqp_exchange)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.amqp_queue)
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    #[default]
    Pretty,
}

#[derive(Args, Debug, Clone)]
pub struct LogConfig {
    /// `json` or `pretty`. Filtering follows `RUST_LOG` (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}
