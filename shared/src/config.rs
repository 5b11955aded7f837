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

    /// What `DATABASE_URL` reaches: Postgres itself (`none`), or a PgBouncer in transaction
    /// pooling mode (`pgbouncer`), which carries no session state from one transaction to the
    /// next. See [`Pooler`].
    #[arg(long, env = "DATABASE_POOLER", value_enum, default_value_t = Pooler::None)]
    pub database_pooler: Pooler,

    /// The same database reached without a transaction pooler, for what needs a session of its
    /// own: migrations (a session advisory lock) and LISTEN. Defaults to `DATABASE_URL`;
    /// required with `DATABASE_POOLER=pgbouncer`.
    #[arg(long, env = "DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,

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
            .field("database_pooler", &self.database_pooler)
            .field(
                "database_direct_url",
                &self.database_direct_url.as_deref().map(redacted),
            )
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// What a database URL points at. A transaction pooler hands each transaction (or statement
/// outside one) whichever server connection is free, so nothing tied to a session survives:
/// startup parameters (PgBouncer refuses `options`), `SET`, session advisory locks, LISTEN.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// Postgres itself, or a pooler in session mode.
    #[default]
    None,
    /// PgBouncer in transaction pooling mode, 1.21 or later with `max_prepared_statements` > 0
    /// (sqlx prepares named statements; older PgBouncers would run them on the wrong server
    /// connection). Connections send no startup parameters, so `statement_timeout` and `jit`
    /// come from the server side (role settings or PgBouncer's `connect_query`), and migrations
    /// and listeners use `DATABASE_DIRECT_URL`.
    Pgbouncer,
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            database_url: url.into(),
            database_max_connections: 10,
            database_acquire_timeout_ms: 5_000,
            database_pooler: Pooler::None,
            database_direct_url: None,
            statement_timeout: None,
        }
    }

    /// The same database through a transaction-pooling PgBouncer at `url`, reached directly at
    /// `direct_url`.
    pub fn through_pgbouncer(mut self, url: impl Into<String>, direct_url: impl Into<String>) -> Self {
        self.database_direct_url = Some(direct_url.into());
        self.database_url = url.into();
        self.database_pooler = Pooler::Pgbouncer;
        self
    }

    /// Refuses a transaction pooler without a direct URL: migrations would take their advisory
    /// lock on one server connection and could leave it held there for good, and listeners
    /// would hear nothing.
    pub fn check(&self) -> Result<(), String> {
        if self.database_pooler == Pooler::Pgbouncer && self.database_direct_url.is_none() {
            return Err(
                "DATABASE_POOLER=pgbouncer needs a direct URL of the same database \
                 (DATABASE_DIRECT_URL, or PRODUCT_DATABASE_DIRECT_URL for a separate product \
                 database) for migrations and LISTEN, which a transaction pooler cannot carry"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// For migrations and LISTEN: the direct URL, or the only one there is.
    pub fn direct_url(&self) -> &str {
        self.database_direct_url.as_deref().unwrap_or(&self.database_url)
    }

    /// Settings for a connection straight to Postgres: a small pool, no statement timeout
    /// (migrations must not be cut), no pooler.
    pub fn direct(&self) -> Self {
        Self {
            database_url: self.direct_url().to_owned(),
            database_max_connections: 2,
            database_acquire_timeout_ms: self.database_acquire_timeout_ms,
            database_pooler: Pooler::None,
            database_direct_url: None,
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
    /// with `cacertfile`, `certfile`, `keyfile` in the query (docs/tls.md). For a cluster, one
    /// URL per node separated by commas; connects go to any node that answers
    /// (`shared::amqp::nodes`). Or AMQP_URL_FILE.
    #[arg(long, env = "AMQP_URL", default_value = DEFAULT_AMQP_URL)]
    pub amqp_url: String,

    /// Topic exchange that change messages are published to.
    #[arg(long, env = "AMQP_EXCHANGE", default_value = DEFAULT_EXCHANGE)]
    pub amqp_exchange: String,

    /// Queue the workers consume; its dead-letter queue is `<queue>.dead`, and the bulk lane of
    /// tenants sending more than their interactive share is `<queue>.bulk` (on `<exchange>.bulk`).
    #[arg(long, env = "AMQP_QUEUE", default_value = DEFAULT_QUEUE)]
    pub amqp_queue: String,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("amqp_url", &crate::amqp::nodes::redacted_setting(&self.amqp_url))
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

    /// Exchange of the bulk lane (topic, bound to [`Self::bulk_queue`]): a tenant's changes
    /// beyond its interactive share ([`crate::amqp::lanes`]).
    pub fn bulk_exchange(&self) -> String {
        format!("{}.bulk", self.amqp_exchange)
    }

    pub fn bulk_queue(&self) -> String {
        format!("{}.bulk", self.amqp_queue)
    }

    /// The exchange and the queue of a lane.
    pub fn lane(&self, lane: crate::amqp::lanes::Lane) -> (String, String) {
        match lane {
            crate::amqp::lanes::Lane::Interactive => (self.amqp_exchange.clone(), self.amqp_queue.clone()),
            crate::amqp::lanes::Lane::Bulk => (self.bulk_exchange(), self.bulk_queue()),
        }
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
        let cluster = AmqpConfig::new(
            "amqp://scim:s3cret@mq-1:5672/%2f,amqp://scim:s3cret@mq-2:5672/%2f,amqp://scim:s3cret@mq-3:5672/%2f",
        );
        for shown in [format!("{db:?}"), format!("{mq:?}"), format!("{cluster:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("scim:***@"), "{shown}");
        }
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(redacted("not a url"), "(not a valid URL)");
    }

    const POOLED: &str = "postgres://u@pgbouncer:6432/scim";
    const DIRECT: &str = "postgres://u@postgres:5432/scim";

    #[test]
    fn a_transaction_pooler_without_a_direct_url_is_refused() {
        let mut cfg = DatabaseConfig::new(POOLED);
        cfg.database_pooler = Pooler::Pgbouncer;
        let err = cfg.check().unwrap_err();
        assert!(err.contains("DATABASE_DIRECT_URL"), "{err}");
        assert!(
            DatabaseConfig::new(POOLED)
                .through_pgbouncer(POOLED, DIRECT)
                .check()
                .is_ok()
        );
        assert!(DatabaseConfig::new(DIRECT).check().is_ok());
    }

    #[test]
    fn direct_settings_reach_postgres_itself_without_pooler_or_statement_timeout() {
        let cfg = DatabaseConfig::new(POOLED)
            .through_pgbouncer(POOLED, DIRECT)
            .with_statement_timeout(Some(Duration::from_secs(20)));
        let direct = cfg.direct();
        assert_eq!(direct.database_url, DIRECT);
        assert_eq!(direct.database_pooler, Pooler::None);
        assert_eq!(direct.statement_timeout, None);
        assert!(direct.check().is_ok());
    }

    #[test]
    fn without_a_direct_url_migrations_and_listeners_use_the_only_url() {
        assert_eq!(DatabaseConfig::new(DIRECT).direct_url(), DIRECT);
        assert_eq!(DatabaseConfig::new(DIRECT).direct().database_url, DIRECT);
    }
}
