//! `/healthz` (the process answers), `/readyz` (Postgres and RabbitMQ reachable), and `/metrics`
//! on a listener of its own (`SCIM_METRICS_ADDR`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let pg = matches!(
        tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await,
        Ok(Ok(_))
    );
    let mq = state.publisher.is_connected().await
        || matches!(
            tokio::time::timeout(CHECK_TIMEOUT, state.publisher.channel()).await,
            Ok(Ok(_))
        );
    let word = |up: bool| if up { "up" } else { "down" };
    let status = if pg && mq {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if pg && mq { "ready" } else { "not ready" },
        "postgres": word(pg),
        "rabbitmq": word(mq),
    });
    (status, Json(body)).into_response()
}

/// The metrics listener's whole router: `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
