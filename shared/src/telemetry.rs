//! Tracing subscriber set-up. Logs go to stderr so that stdout stays free for the one JSON object
//! each CLI command prints. With the `otlp` cargo feature, spans can also be exported over OTLP
//! (`telemetry/otlp.rs`); without it nothing of OpenTelemetry is compiled in.

#[cfg(feature = "otlp")]
mod otlp;

use crate::config::LogFormat;
use crate::trace::TraceParent;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// The standard variable that switches trace export on (with the `otlp` feature).
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// What [`init`] set up and has to be shut down: the trace exporter, when there is one. Call
/// [`Telemetry::shutdown`] (or drop it) as the process ends, so the last spans are sent.
#[must_use = "dropping it shuts the trace exporter down"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    otlp: Option<otlp::Exporter>,
}

/// Installs the global subscriber. sqlx statement logging is kept at `warn` unless `RUST_LOG`
/// asks for it: statements carry user attributes, which do not belong in routine logs. The same
/// filter decides which spans are exported. `service_name` names the process in exported traces
/// unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init(format: LogFormat, service_name: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,lapin=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    #[cfg(feature = "otlp")]
    let (exporter, otlp_error) = match otlp::Exporter::from_env(service_name) {
        Ok(exporter) => (exporter, None),
        Err(e) => (None, Some(e)),
    };
    #[cfg(feature = "otlp")]
    let registry = registry.with(exporter.as_ref().map(otlp::Exporter::layer));
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
    let installed = result.is_ok();

    #[cfg(feature = "otlp")]
    {
        // An exporter whose layer did not make it into the subscriber would never see a span.
        let exporter = exporter.filter(|_| installed);
        // Tracing is no reason to refuse to serve: a bad exporter setting is logged, not fatal.
        if let Some(e) = otlp_error {
            tracing::error!(error = %e, "OTLP trace export is off: the exporter could not be built");
        }
        if let Some(exporter) = &exporter {
            tracing::info!(
                service_name = exporter.service_name(),
                "exporting traces over OTLP/HTTP"
            );
        }
        Telemetry { otlp: exporter }
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (service_name, installed);
        if std::env::var_os(OTLP_ENDPOINT_VAR).is_some_and(|v| !v.is_empty()) {
            tracing::warn!(
                "{OTLP_ENDPOINT_VAR} is set, but this build has no `otlp` feature: no traces are exported"
            );
        }
        Telemetry {}
    }
}

impl Telemetry {
    /// Sends the spans still queued and stops the exporter (bounded by the SDK's timeout).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = self.otlp.take() {
            exporter.shutdown();
        }
    }
}

/// Makes `span` a child of `parent` (a remote span: the IdP's request, or the api request that
/// wrote a change message) in the exported trace. Call it before the span is first entered: the
/// exported span's parent is fixed once it starts. A no-op when nothing is exported.
pub fn set_parent(span: &tracing::Span, parent: &TraceParent) {
    #[cfg(feature = "otlp")]
    otlp::set_parent(span, parent);
    #[cfg(not(feature = "otlp"))]
    let _ = (span, parent);
}

/// The trace context of `span` as exported: its trace id and its own span id, to hand on to what
/// comes next (log fields, the change message's `traceparent`) so that logs, messages and the
/// exported trace agree. `None` when nothing is exported (no `otlp` feature, or no endpoint set):
/// the caller then makes up its own ids as before.
pub fn exported_context(span: &tracing::Span) -> Option<TraceParent> {
    #[cfg(feature = "otlp")]
    {
        otlp::exported_context(span)
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = span;
        None
    }
}

/// Histogram buckets (seconds) for every latency and lag metric, so Prometheus gets real
/// histograms that aggregate across replicas (the exporter's default is a per-process summary).
/// From a millisecond (an apply) to five minutes (end-to-end lag through an outage).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_callers_keep_their_own_ids() {
        let span = tracing::info_span!("request");
        set_parent(&span, &TraceParent::root());
        assert_eq!(exported_context(&span), None);
    }
}
