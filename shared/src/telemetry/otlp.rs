//! OpenTelemetry trace export over OTLP/HTTP (protobuf), compiled only with the `otlp` feature
//! and switched on only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. The exporter reads the other standard `OTEL_*`
//! variables itself (headers, timeout, batch sizes, sampler), so they all live in one place: the
//! environment, as operators of OpenTelemetry expect.
//!
//! Parenting goes through our own [`TraceParent`] (already validated by the caller) rather than a
//! second parse of the header by OpenTelemetry's propagator, so the exported trace can never
//! disagree with the trace id in our logs and messages.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::{Context, Key, Value};
use opentelemetry_otlp::{ExporterBuildError, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

use crate::trace::TraceParent;

const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const SERVICE_NAME: &str = "service.name";

/// The tracer provider: a batch span processor exporting from a thread of its own.
pub(super) struct Exporter {
    provider: SdkTracerProvider,
    service_name: String,
}

impl Exporter {
    /// `Ok(None)` when no endpoint is configured: nothing is exported.
    pub(super) fn from_env(default_service_name: &'static str) -> Result<Option<Self>, ExporterBuildError> {
        let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
        if !set(super::OTLP_ENDPOINT_VAR) && !set(TRACES_ENDPOINT_VAR) {
            return Ok(None);
        }
        if let Ok(p) = std::env::var(PROTOCOL_VAR)
            && !p.is_empty()
            && p != "http/protobuf"
        {
            // Printed, since the subscriber that would log it is not installed yet.
            eprintln!("{PROTOCOL_VAR}={p} is not supported; exporting with http/protobuf");
        }
        // The endpoint is left to the exporter: it appends /v1/traces to the generic variable and
        // takes the traces-only one as it is, as the specification says.
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()?;
        let resource = resource(default_service_name);
        let service_name = resource
            .get(&Key::from_static_str(SERVICE_NAME))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Self {
            provider,
            service_name,
        }))
    }

    pub(super) fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("scim-relay"))
            // Source file, line and thread ids are noise for an operator reading a trace.
            .with_location(false)
            .with_threads(false)
    }

    pub(super) fn service_name(&self) -> &str {
        &self.service_name
    }

    /// Flushes the batch and stops the export thread. The subscriber is still installed, so a
    /// failure can be logged.
    pub(super) fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "OTLP trace export did not shut down cleanly");
        }
    }
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, SDK attributes), with
/// our name for the process when the environment names none (the SDK would say
/// `unknown_service:<executable>`).
fn resource(default_service_name: &'static str) -> Resource {
    let detected = Resource::builder().build();
    let named = match detected.get(&Key::from_static_str(SERVICE_NAME)) {
        Some(Value::String(s)) => !s.as_str().starts_with("unknown_service"),
        _ => false,
    };
    if named {
        detected
    } else {
        Resource::builder()
            .with_service_name(default_service_name)
            .build()
    }
}

pub(super) fn set_parent(span: &tracing::Span, parent: &TraceParent) {
    let remote = SpanContext::new(
        TraceId::from(parent.trace_id),
        SpanId::from(parent.parent_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    // Fails only when no exporter layer is installed (nothing to parent) or the span has already
    // started (a caller bug that the exported_context check in tests would show).
    let _ = span.set_parent(Context::new().with_remote_span_context(remote));
}

pub(super) fn exported_context(span: &tracing::Span) -> Option<TraceParent> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| TraceParent {
        trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
        parent_id: u64::from_be_bytes(sc.span_id().to_bytes()),
        flags: sc.trace_flags().to_u8(),
    })
}
