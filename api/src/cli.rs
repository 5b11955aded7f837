//! Command line and environment configuration of `scim-api`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shared::config::{AmqpConfig, DatabaseConfig, LogConfig};
use uuid::Uuid;

use crate::outbox::relay::RelayConfig;

#[derive(Parser, Debug)]
#[command(
    name = "scim-api",
    version,
    about = "SCIM 2.0 provisioning endpoint (Okta, Entra ID)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub db: DatabaseConfig,
    #[command(flatten)]
    pub log: LogConfig,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(Box<ServeArgs>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's API token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the keys that sign event SETs.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Apply the directory's pending migrations (schema `scim`) and exit; prints
    /// {"migrated": "scim"}. `serve` does the same at start, so this is for running them ahead
    /// of a rollout (a Kubernetes Job).
    Migrate,
    /// Exit 0 if the server at URL answers 200 (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant and its first token; prints {"tenant_id", "token"}. The token is shown once.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key, which signs from now on (every replica within 30 s); the old
    /// public key stays in /.well-known/jwks.json for EVENTS_KEY_GRACE_DAYS. Prints {"kid"}.
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a new token and revoke the old one at once; prints {"tenant_id", "token"}.
    Rotate {
        #[arg(long)]
        tenant: Uuid,
    },
    /// Revoke the tenant's token(s): every request with them is refused from now on.
    Revoke {
        #[arg(long)]
        tenant: Uuid,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, env = "SCIM_BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// Externally visible origin, e.g. https://scim.example.com, used in resource locations.
    /// Without it, locations are built from the request's Host header. In production it is an
    /// https URL (Okta and Entra ID accept nothing else); the admin cookie is `Secure` then.
    #[arg(long, env = "SCIM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// PEM certificate chain (leaf first) to serve https with on SCIM_BIND_ADDR; plain http
    /// when unset. Needs SCIM_TLS_KEY. Reloaded when the file changes (docs/tls.md).
    #[arg(long, env = "SCIM_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of SCIM_TLS_CERT (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SCIM_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// How often the certificate files are checked for a change.
    #[arg(long, env = "SCIM_TLS_RELOAD_SECS", default_value_t = 10)]
    pub tls_reload_secs: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SCIM_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Requests running longer are abandoned with 503 (Okta gives up after 60 s).
    #[arg(long, env = "SCIM_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Requests processed at once over all tenants and clients; more wait in line (the wait
    /// counts towards SCIM_REQUEST_TIMEOUT_MS).
    #[arg(long, env = "SCIM_MAX_CONCURRENCY", default_value_t = 256)]
    pub max_concurrency: usize,

    /// Requests processed at once per tenant (and per client address outside /scim/v2); a
    /// tenant's further requests wait in its own line without holding a global slot.
    #[arg(long, env = "SCIM_TENANT_MAX_CONCURRENCY", default_value_t = 32)]
    pub tenant_max_concurrency: usize,

    /// Filtered or sorted lists and searches a tenant runs at once; each may keep a database
    /// connection busy for up to SCIM_FILTER_TIMEOUT_MS, so keep it well below the pool size.
    #[arg(long, env = "SCIM_TENANT_MAX_FILTERED_LISTS", default_value_t = 2)]
    pub tenant_max_filtered_lists: usize,

    /// Time a filtered list or search may spend in Postgres; beyond it the request gets 400
    /// `tooMany` (narrow the filter).
    #[arg(long, env = "SCIM_FILTER_TIMEOUT_MS", default_value_t = 5_000)]
    pub filter_timeout_ms: u64,

    /// Time any one SQL statement of the api may run (Postgres `statement_timeout`).
    #[arg(long, env = "SCIM_STATEMENT_TIMEOUT_MS", default_value_t = 20_000)]
    pub statement_timeout_ms: u64,

    /// Members one list answer of groups renders at most (with `attributes=members`); the page
    /// ends early to stay under it.
    #[arg(long, env = "SCIM_LIST_MAX_MEMBERS", default_value_t = 10_000)]
    pub list_max_members: usize,

    /// Seconds a list's `nextCursor` stays valid (RFC 9865 cursor paging), advertised as
    /// `pagination.cursorTimeout`; an older cursor is refused with 400 `expiredCursor`. A cursor
    /// holds no server state, so a long timeout costs nothing.
    #[arg(long, env = "SCIM_CURSOR_TIMEOUT_SECS", default_value_t = 3_600)]
    pub cursor_timeout_secs: u64,

    /// Statements of user creates in flight at once (api/src/directory/user_batch.rs): while
    /// all are busy, the creates arriving meanwhile are written together by the next one
    /// (group commit). 0 writes every create on its own.
    #[arg(long, env = "SCIM_CREATE_STATEMENTS", default_value_t = 4)]
    pub create_statements: usize,

    /// Keep live tokens in memory, emptied by Postgres notifications on revocation
    /// (api/src/auth_cache.rs). `false` looks every request's token up in the database.
    #[arg(long, env = "SCIM_AUTH_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_cache: bool,

    /// Where to serve /metrics for Prometheus (e.g. 0.0.0.0:9464, an address only the scraper
    /// reaches); off when unset. It is never served on the SCIM listener.
    #[arg(long, env = "SCIM_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Without SCIM_PUBLIC_URL, the Host headers resource locations may be built from (comma
    /// separated, `host` or `host:port`, `*` for any); requests naming another host get 421.
    #[arg(long, env = "SCIM_ALLOWED_HOSTS", default_value = crate::hosts::DEFAULT)]
    pub allowed_hosts: crate::hosts::AllowedHosts,

    /// Sustained SCIM requests per second per tenant; 0 turns the limit off.
    #[arg(long, env = "SCIM_TENANT_RATE_LIMIT", default_value_t = 100.0)]
    pub tenant_rate_limit: f64,

    /// Requests a tenant may send at once before the rate limit applies.
    #[arg(long, env = "SCIM_TENANT_BURST", default_value_t = 200.0)]
    pub tenant_burst: f64,

    /// Changes per second per tenant that go to the workers' main queue; the rest go to the
    /// bulk queue, so that one tenant's import or large group never delays another tenant's
    /// changes (docs/operations.md, "Tenant fairness"). 0 sends everything to the main queue.
    #[arg(long, env = "SCIM_INTERACTIVE_CHANGES", default_value_t = 50.0)]
    pub interactive_changes: f64,

    /// Changes a tenant may send at once to the main queue after being quiet.
    #[arg(long, env = "SCIM_INTERACTIVE_BURST", default_value_t = 100.0)]
    pub interactive_burst: f64,

    /// How often the outbox relay looks for unpublished changes.
    #[arg(long, env = "OUTBOX_RELAY_INTERVAL_MS", default_value_t = 1_000)]
    pub relay_interval_ms: u64,

    /// Unpublished changes younger than this are left to the fast path.
    #[arg(long, env = "OUTBOX_RELAY_GRACE_MS", default_value_t = 2_000)]
    pub relay_grace_ms: u64,

    /// Published outbox rows are deleted after this many seconds.
    #[arg(long, env = "OUTBOX_RETENTION_SECS", default_value_t = 86_400)]
    pub outbox_retention_secs: u64,

    /// The admin page and its API (`ADMIN_*`).
    #[command(flatten)]
    pub admin: crate::admin::AdminArgs,
    #[command(flatten)]
    pub events: crate::events::settings::EventsArgs,
    /// Planner statistics of the directory's tables (`SCIM_ANALYZE_*`).
    #[command(flatten)]
    pub statistics: shared::statistics::StatisticsConfig,

    /// Days the SCIM activity log (scim.audit) keeps a request.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 30)]
    pub audit_retention_days: u32,

    /// How often old activity rows are purged (tests shorten it).
    #[arg(long, env = "AUDIT_PURGE_INTERVAL_SECS", default_value_t = 3_600, hide = true)]
    pub audit_purge_interval_secs: u64,
}

impl ServeArgs {
    /// The https listener's files, when SCIM_TLS_CERT and SCIM_TLS_KEY are set.
    pub fn tls(&self) -> Option<crate::tls::TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                reload_every: Duration::from_secs(self.tls_reload_secs.max(1)),
            }),
            _ => None,
        }
    }

    pub fn relay(&self) -> RelayConfig {
        RelayConfig {
            interval: Duration::from_millis(self.relay_interval_ms),
            grace: Duration::from_millis(self.relay_grace_ms),
            retention: Duration::from_secs(self.outbox_retention_secs),
        }
    }

    pub fn rate_limit(&self) -> crate::rate_limit::Limit {
        crate::rate_limit::Limit {
            per_second: self.tenant_rate_limit,
            burst: self.tenant_burst.max(1.0),
        }
    }

    pub fn interactive_share(&self) -> shared::amqp::lanes::Share {
        shared::amqp::lanes::Share {
            per_second: self.interactive_changes.max(0.0),
            burst: self.interactive_burst,
        }
    }

    pub fn audit(&self) -> crate::activity::AuditConfig {
        crate::activity::AuditConfig {
            retention: Duration::from_secs(u64::from(self.audit_retention_days) * 86_400),
            purge_every: Duration::from_secs(self.audit_purge_interval_secs.max(1)),
        }
    }

    pub fn admission(&self) -> crate::admission::Limits {
        crate::admission::Limits {
            global: self.max_concurrency.max(1),
            per_line: self.tenant_max_concurrency.max(1),
            lists_per_tenant: self.tenant_max_filtered_lists.max(1),
        }
    }

    pub fn limits(&self) -> crate::state::Limits {
        crate::state::Limits {
            filter_timeout: Duration::from_millis(self.filter_timeout_ms.max(1)),
            list_max_members: self.list_max_members.max(1),
            cursor_timeout: Duration::from_secs(self.cursor_timeout_secs.max(1)),
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// Postgres `statement_timeout` for the api's connections; `None` when 0 (no limit).
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout_ms > 0).then(|| Duration::from_millis(self.statement_timeout_ms))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl ServeArgs {
    /// Settings for a bare `scim-api` (no subcommand): everything from the environment.
    pub fn from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        shared::secrets::parse_from::<Only>(["scim-api"]).args
    }
}
