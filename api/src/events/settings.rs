//! The events settings (`scim-api serve`) and what the request path keeps of them.

use std::sync::Arc;
use std::time::Duration;

use shared::events::keys;

use super::sequencer::{self, Signals};

/// Settings of the event streams (`scim-api serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// How long a poll that asks to wait (`returnImmediately: false`) waits for a SET, at most.
    /// Keep it below SCIM_REQUEST_TIMEOUT_MS and any proxy's read timeout.
    #[arg(long, env = "EVENTS_LONG_POLL_SECS", default_value_t = 20)]
    pub long_poll_secs: u64,
    /// A SET handed to a poll and not acknowledged within this time is handed out again.
    #[arg(long, env = "EVENTS_ACK_TIMEOUT_SECS", default_value_t = 30)]
    pub ack_timeout_secs: u64,
    /// Events are kept this long, delivered or not (replay reaches this far back); so are the
    /// completions of asynchronous requests.
    #[arg(long, env = "EVENTS_RETENTION_DAYS", default_value_t = 7)]
    pub retention_days: u64,
    /// A retired signing key stays in the JWKS this long after a rotation.
    #[arg(long, env = "EVENTS_KEY_GRACE_DAYS", default_value_t = 7)]
    pub key_grace_days: u64,
    /// How often the sequencer looks for events committed by other api replicas.
    #[arg(
        long,
        env = "EVENTS_SEQUENCER_INTERVAL_MS",
        default_value_t = 100,
        hide = true
    )]
    pub sequencer_interval_ms: u64,
    /// How long a replica signs with the key it read before looking for a rotation.
    #[arg(long, env = "EVENTS_KEY_CACHE_SECS", default_value_t = 30, hide = true)]
    pub key_cache_secs: u64,
    /// Allow push endpoints over http and in loopback or private ranges (development, tests).
    #[arg(
        long,
        env = "EVENTS_ALLOW_INSECURE_ENDPOINTS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_insecure_endpoints: bool,
}

impl EventsArgs {
    pub fn sequencer(&self) -> sequencer::SequencerConfig {
        sequencer::SequencerConfig {
            interval: Duration::from_millis(self.sequencer_interval_ms.max(1)),
            retention: Duration::from_secs(self.retention_days * 24 * 3600),
        }
    }
}

/// What the request path needs of the events machinery.
pub struct Events {
    pub signals: Arc<Signals>,
    pub keys: keys::Cache,
    pub long_poll: Duration,
    pub ack_timeout: Duration,
    pub key_grace: Duration,
    pub allow_insecure_endpoints: bool,
}

impl Events {
    pub fn new(args: &EventsArgs, signals: Arc<Signals>) -> Self {
        Self {
            signals,
            keys: keys::Cache::new(Duration::from_secs(args.key_cache_secs)),
            long_poll: Duration::from_secs(args.long_poll_secs),
            ack_timeout: Duration::from_secs(args.ack_timeout_secs),
            key_grace: Duration::from_secs(args.key_grace_days * 24 * 3600),
            allow_insecure_endpoints: args.allow_insecure_endpoints,
        }
    }
}
