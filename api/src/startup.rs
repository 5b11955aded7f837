//! Builds the application: migrations, broker publisher, outbox tasks, router, listener.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use shared::amqp::Publisher;
use shared::config::DatabaseConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::admin;
use crate::cli::ServeArgs;
use crate::error::{ScimError, ensure_scim_error_body};
use crate::outbox::{dispatch, relay};
use crate::routes::{discovery, groups, health, search, unsupported, users};
use crate::state::{App, AppState};
use crate::trace_context;

pub struct Application {
    listener: TcpListener,
    router: Router,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(
        db_cfg: &DatabaseConfig,
        args: &ServeArgs,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        admin::check(args)?;
        // Before any task starts, so that nothing they record is lost.
        let metrics = install_metrics();
        let db = shared::db::connect(db_cfg)
            .await
            .context("connecting to postgres")?;
        shared::migration::migrate_directory(&db)
            .await
            .context("migrating the directory schema")?;
        let publisher = Arc::new(Publisher::new(args.amqp.clone(), "scim-api"));
        // Declare the topology now if the broker is up; if not, the api still serves and the
        // relay delivers once the broker is back.
        if let Err(e) = publisher.channel().await {
            tracing::warn!(error = %e, "rabbitmq not reachable at start; changes stay in the outbox until it is");
        }
        let (dispatcher, dispatch_task) = dispatch::spawn(db.clone(), publisher.clone(), shutdown.clone());
        let relay_task = relay::spawn(db.clone(), publisher.clone(), args.relay(), shutdown.clone());
        let (audit, audit_task) = admin::audit::spawn(db.clone(), args.audit(), shutdown.clone());
        let state = AppState(Arc::new(App {
            db: db.clone(),
            publisher,
            dispatcher,
            public_url: args.public_url.clone(),
            metrics,
            rate_limiter: crate::rate_limit::RateLimiter::new(args.rate_limit()),
            audit,
        }));
        let router = router(state, args);
        let listener = TcpListener::bind(&args.bind_addr)
            .await
            .with_context(|| format!("binding {}", args.bind_addr))?;
        Ok(Self {
            listener,
            router,
            tasks: vec![dispatch_task, relay_task, audit_task],
            shutdown,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until shutdown, then lets in-flight requests and the dispatcher finish.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        for t in self.tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

/// The process-wide Prometheus recorder (installed once; later calls reuse the first handle).
fn install_metrics() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(shared::telemetry::LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

pub fn router(state: AppState, args: &ServeArgs) -> Router {
    let scim = Router::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(discovery::router())
        .merge(search::router())
        .merge(unsupported::router())
        .fallback(|| async { ScimError::not_found("no such SCIM endpoint") })
        .layer(middleware::from_fn_with_state(
            state.audit.clone(),
            admin::audit::record,
        ));
    Router::new()
        .nest("/scim/v2", scim)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(admin::router(state.clone(), args))
        .fallback(|| async { ScimError::not_found("no such endpoint") })
        .with_state(state)
        .layer(middleware::from_fn(record_metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            args.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(args.max_body_bytes))
        .layer(tower::limit::ConcurrencyLimitLayer::new(args.max_concurrency))
        .layer(middleware::from_fn(trace_context::propagate))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned());
                    let span = tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route = route.as_deref().unwrap_or("unmatched"),
                        tenant_id = tracing::field::Empty,
                        trace_id = tracing::field::Empty,
                        span_id = tracing::field::Empty,
                    );
                    trace_context::adopt_incoming(&span, req);
                    span
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
        .layer(CatchPanicLayer::new())
        // Outermost, so that responses made by the layers above (413, 408, panics) get a SCIM body.
        .layer(middleware::map_response(ensure_scim_error_body))
        .layer(middleware::from_fn(crate::unread_body::close_if_unread))
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("scim_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("scim_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    resp
}
