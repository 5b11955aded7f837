//! The worker's small HTTP side: `/healthz` and `/metrics` for orchestrators and Prometheus.

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio_util::sync::CancellationToken;

pub async fn serve(addr: &str, shutdown: CancellationToken) -> anyhow::Result<()> {
    let handle = PrometheusBuilder::new()
        .set_buckets(shared::telemetry::LATENCY_BUCKETS)
        .context("histogram buckets")?
        .set_buckets_for_metric(
            Matcher::Full("scim_worker_batch_size".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        )
        .context("batch size buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(move || std::future::ready(handle.render())));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "worker http listening");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Ok(())
}
