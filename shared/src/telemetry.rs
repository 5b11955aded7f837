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
