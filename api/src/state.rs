//! Shared request state: the pool, the publisher, the outbox dispatcher, the activity log and
//! settings.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use shared::amqp::Publisher;

use crate::outbox::dispatch::Dispatcher;

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

pub struct App {
    pub db: DatabaseConnection,
    pub publisher: Arc<Publisher>,
    pub dispatcher: Dispatcher,
    /// Externally visible origin (`https://scim.example.com`), if configured; otherwise resource
    /// locations are derived from the request's Host header.
    pub public_url: Option<String>,
    pub metrics: Option<PrometheusHandle>,
    pub rate_limiter: crate::rate_limit::RateLimiter,
    pub audit: crate::activity::AuditLog,
    pub admission: crate::admission::Admission,
    pub limits: Limits,
    /// Hosts whose `Host` header may name this server in resource locations when no
    /// `public_url` is set (`extract::BaseUrl`).
    pub allowed_hosts: crate::hosts::AllowedHosts,
    /// Change events: the sequencer's signals, the signing key, poll settings.
    pub events: Arc<crate::events::settings::Events>,
    /// Each tenant's User schemas, as last loaded (`tenant_schemas`).
    pub schemas: crate::tenant_schemas::Cache,
    /// Live tokens, while the api listens for their revocation (`auth_cache`).
    pub auth_cache: Arc<crate::auth_cache::AuthCache>,
    /// Group commit of user creates (`directory::user_batch`); none when switched off.
    pub creates: Option<crate::directory::user_batch::Creates>,
}

/// Bounds on the work one request may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a filtered list or search may spend in Postgres.
    pub filter_timeout: std::time::Duration,
    /// Members a list answer of groups renders at most.
    pub list_max_members: usize,
    /// How long a list's `nextCursor` stays valid (RFC 9865 `cursorTimeout`).
    pub cursor_timeout: std::time::Duration,
    /// Largest request body accepted (`SCIM_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
