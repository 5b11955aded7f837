//! Configuration pieces both binaries read from the environment. Each binary composes these
//! `clap::Args` into its own config struct, parsed once in `main`; tests build them directly.
//!
//! The URLs carry passwords (and may come from `<NAME>_FILE`, see `secrets`): the structs' `Debug`
//! shows them with the password replaced.

use clap::{Args, ValueEnum};
use std::time::Duration;

// Loopback: TLS would only cost CPU (the machine's Postgres has `ssl = on`, and sqlx, like
// libpq, prefers TLS when the URL says nothing). A remote server's URL sets its own `sslmode`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/scim_relay?sslmode=disable";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_EXCHANGE: &str = "scim.changes";
pub const DEFAULT_QUEUE: &str = "scim.changes.apply";

/// `url` with its password replaced by `***`, for anything that shows a URL.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(not a valid URL)".to_owned(),
    }
}

/// Where the SCIM directory (tenants, tokens, users, outbox) lives.
#[derive(Args, Clone)]
pub struct DatabaseConfig {
    /// Postgres URL of the SCIM directory. TLS as with libpq: `sslmode` (up to `verify-full`),
    /// `sslrootcert`, `sslcert`, `sslkey` in the query (docs/tls.md). Or DATABASE_URL_FILE.
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

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_url", &redacted(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout_ms", &self.database_acquire_timeout_ms)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
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
#[derive(Args, Clone)]
pub struct AmqpConfig {
    /// AMQP URL of RabbitMQ (the vhost is the URL's path, `%2f` for `/`). `amqps://` for TLS,
    /// with `cacertfile`, `certfile`, `keyfile` in the query (docs/tls.md). Or AMQP_URL_FILE.
    #[arg(long, env = "AMQP_URL", default_value = DEFAULT_AMQP_URL)]
    pub amqp_url: String,

    /// Topic exchange that change messages are published to.
    #[arg(long, env = "AMQP_EXCHANGE", default_value = DEFAULT_EXCHANGE)]
    pub amqp_exchange: String,

    /// Queue the workers consume; its dead-letter queue is `<queue>.dead`.
    #[arg(long, env = "AMQP_QUEUE", default_value = DEFAULT_QUEUE)]
    pub amqp_queue: String,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("amqp_url", &redacted(&self.amqp_url))
            .field("amqp_exchange", &self.amqp_exchange)
            .field("amqp_queue", &self.amqp_queue)
            .finish()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_settings_never_contain_the_password() {
        let db = DatabaseConfig::new("postgres://scim:s3cret@db.example.com/scim?sslmode=verify-full");
        let mq = AmqpConfig::new("amqps://scim:s3cret@mq.example.com/prod?cacertfile=/ca.pem");
        for shown in [format!("{db:?}"), format!("{mq:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("scim:***@"), "{shown}");
        }
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(redacted("not a url"), "(not a valid URL)");
    }
}
