//! Trace context for each request: the IdP's `traceparent` when it sends one (a new trace when it
//! does not), recorded on the request span as `trace_id`, and stamped on every change message the
//! request writes to the outbox, so the worker's logs for that change carry the same `trace_id`.
//! When spans are exported (the `otlp` feature), the request span is exported as a child of the
//! IdP's span, and the ids handed on are the exported span's own.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use shared::trace::TraceParent;

tokio::task_local! {
    static CURRENT: TraceParent;
}

/// The `traceparent` to hand on from the request being served (its own span as the parent);
/// `None` outside a request (the relay, CLI commands).
pub fn outgoing() -> Option<String> {
    CURRENT.try_with(|t| t.to_string()).ok()
}

/// The trace id of the request being served.
pub fn current_trace_id() -> Option<String> {
    CURRENT.try_with(|t| t.trace_id_hex()).ok()
}

/// The IdP's trace context, when it sent a valid one.
fn incoming(req: &Request) -> Option<TraceParent> {
    req.headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}

/// For the tracing layer's span maker: parents the request span, in the exported trace, on the
/// IdP's span. Must run before the span is first entered, hence not in [`propagate`].
pub fn adopt_incoming(span: &tracing::Span, req: &Request) {
    if let Some(parent) = incoming(req) {
        shared::telemetry::set_parent(span, &parent);
    }
}

/// Middleware; must sit inside the tracing layer so the request span is current.
pub async fn propagate(req: Request, next: Next) -> Response {
    let span = tracing::Span::current();
    // The exported span's ids when there is one, so that the worker's span hangs under it in the
    // trace; otherwise a span id of our own in the IdP's trace (or a new trace).
    let ours = shared::telemetry::exported_context(&span)
        .unwrap_or_else(|| incoming(&req).map_or_else(TraceParent::root, |t| t.child()));
    span.record("trace_id", ours.trace_id_hex());
    span.record("span_id", ours.parent_id_hex());
    CURRENT.scope(ours, next.run(req)).await
}
