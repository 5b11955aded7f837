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
    /// Apply the product schema's pending migrations and exit; prints {"migrated": "product"}.
    /// `run` does the same at start, so this is for running them ahead of a rollout.
    Migrate(ProductArgs),
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

/// The directory and the product database, which may be another one.
#[derive(Args, Clone)]
pub struct ProductArgs {
    /// The SCIM directory.
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// Postgres URL of the product database (defaults to DATABASE_URL).
    #[arg(long, env = "PRODUCT_DATABASE_URL")]
    pub product_database_url: Option<String>,

    /// The product database reached without a transaction pooler, for its migrations; defaults
    /// to PRODUCT_DATABASE_URL. Read only when PRODUCT_DATABASE_URL is set (otherwise the
    /// product is in the directory's database, and DATABASE_DIRECT_URL serves both).
    #[arg(long, env = "PRODUCT_DATABASE_DIRECT_URL")]
    pub product_database_direct_url: Option<String>,
}

/// URLs carry passwords: shown without them, as `DatabaseConfig` shows its own.
impl std::fmt::Debug for ProductArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |u: &Option<String>| u.as_deref().map(shared::config::redacted);
        f.debug_struct("ProductArgs")
            .field("db", &self.db)
            .field("product_database_url", &shown(&self.product_database_url))
            .field(
                "product_database_direct_url",
                &shown(&self.product_database_direct_url),
            )
            .finish()
    }
}

impl ProductArgs {
    /// Where `product.*` lives: the directory's settings with the product's URLs, if it has
    /// its own database (pool size and pooler are shared).
    pub fn product_db(&self) -> DatabaseConfig {
        let mut cfg = self.directory_db();
        if let Some(url) = &self.product_database_url {
            cfg.database_url = url.clone();
            cfg.database_direct_url = self.product_database_direct_url.clone();
        }
        cfg
    }

    /// The directory, as the worker's pools reach it.
    pub fn directory_db(&self) -> DatabaseConfig {
        self.db.clone()
    }

    /// Whether the product has a database of its own (else one pool serves both).
    pub fn separate(&self) -> bool {
        self.product_database_url.is_some()
    }
}

#[derive(Args, Debug, Clone)]
pub struct DirectoryArgs {
    /// The SCIM directory (read-only here) and the product database.
    #[command(flatten)]
    pub databases: ProductArgs,

    /// Only this tenant (default: every tenant).
    #[arg(long)]
    pub tenant: Option<uuid::Uuid>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub databases: ProductArgs,

    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Unacknowledged messages this worker holds at once; bounds memory and parallel applies.
    #[arg(long, env = "WORKER_PREFETCH", default_value_t = 256)]
    pub prefetch: u16,

    /// Where to serve /healthz and /metrics (e.g. 0.0.0.0:9091); off when unset.
    #[arg(long, env = "WORKER_HTTP_ADDR")]
    pub http_addr: Option<String>,

    /// Planner statistics of the product's tables (`SCIM_ANALYZE_*`).
    #[command(flatten)]
    pub statistics: shared::statistics::StatisticsConfig,

    /// Test-only hooks (`SCIM_FAULT_*`), present only in test builds (see `shared::fault`).
    #[command(flatten)]
    pub faults: shared::fault::Faults,
}

impl RunArgs {
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::Pooler;

    fn args(product: Option<&str>, product_direct: Option<&str>) -> ProductArgs {
        ProductArgs {
            db: DatabaseConfig::new("postgres://u@pgbouncer:6432/scim")
                .through_pgbouncer("postgres://u@pgbouncer:6432/scim", "postgres://u@pg:5432/scim"),
            product_database_url: product.map(str::to_owned),
            product_database_direct_url: product_direct.map(str::to_owned),
        }
    }

    #[test]
    fn the_product_in_the_directorys_database_shares_its_urls() {
        let cfg = args(None, None).product_db();
        assert_eq!(cfg.database_url, "postgres://u@pgbouncer:6432/scim");
        assert_eq!(cfg.direct_url(), "postgres://u@pg:5432/scim");
    }

    #[test]
    fn a_separate_product_database_takes_its_own_direct_url_and_the_same_pooler() {
        let cfg = args(
            Some("postgres://u@pgbouncer:6432/product"),
            Some("postgres://u@pg2:5432/product"),
        )
        .product_db();
        assert_eq!(cfg.database_url, "postgres://u@pgbouncer:6432/product");
        assert_eq!(cfg.direct_url(), "postgres://u@pg2:5432/product");
        assert_eq!(cfg.database_pooler, Pooler::Pgbouncer);
        // Never the directory's direct URL: migrations would go to the wrong database.
        let cfg = args(Some("postgres://u@pgbouncer:6432/product"), None).product_db();
        assert!(cfg.check().is_err());
    }

    #[test]
    fn shown_product_urls_never_contain_the_password() {
        let shown = format!(
            "{:?}",
            args(
                Some("postgres://u:s3cret@pgbouncer:6432/product"),
                Some("postgres://u:s3cret@pg2:5432/product"),
            )
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("u:***@pg2"), "{shown}");
    }
}
