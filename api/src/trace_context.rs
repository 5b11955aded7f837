//! Trace context for each request: the IdP's `traceparent` when it sends one (a new trace when it
//! does not), recorded on the request span as `trace_id`, and stamped on every change message the
//! request writes to the outbox, so the worker's logs for that change carry the same `trace_id`.

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

/// Middleware; must sit inside the tracing layer so the request span is current.
pub async fn propagate(req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let ours = incoming.map_or_else(TraceParent::root, |t| t.child());
    let span = tracing::Span::current();
    span.record("trace_id", ours.trace_id_hex());
    span.record("span_id", ours.parent_id_hex());
    CURRENT.scope(ours, next.run(req)).await
}
