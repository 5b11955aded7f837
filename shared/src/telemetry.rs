//! Tracing subscriber set-up. Logs go to stderr so that stdout stays free for the one JSON object
//! each CLI command prints.

use crate::config::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. sqlx statement logging is kept at `warn` unless `RUST_LOG`
/// asks for it: statements carry user attributes, which do not belong in routine logs.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,lapin=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    // Every enclosing span's fields, so a handler's lines carry the request's
                    // trace_id and a worker's lines the message's.
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second init (tests calling main logic twice) keeps the first subscriber.
    let _ = result;
}

/// Histogram buckets (seconds) for every latency and lag metric, so Prometheus gets real
/// histograms that aggregate across replicas (the exporter's default is a per-process summary).
/// From a millisecond (an apply) to five minutes (end-to-end lag through an outage).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
