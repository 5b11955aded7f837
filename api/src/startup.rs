//! Builds the application: migrations, broker publisher, outbox tasks, router, listener.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
use crate::routes::{access, asynchronous, discovery, groups, health, search, unsupported, users};
use crate::state::{App, AppState};
use crate::trace_context;

pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own (SCIM_METRICS_ADDR), never on the SCIM listener:
    /// it is unauthenticated and tells how the service is used.
    metrics_listener: Option<TcpListener>,
    metrics_router: Router,
    router: Router,
    /// https on the listener (SCIM_TLS_CERT/SCIM_TLS_KEY) instead of plain http.
    tls: Option<tokio_rustls::TlsAcceptor>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(
        db_cfg: &DatabaseConfig,
        args: &ServeArgs,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        admin::check(&args.admin)?;
        // Before anything connects: a certificate that does not load stops the start at once.
        let tls = match args.tls() {
            Some(files) => {
                let (acceptor, current) =
                    crate::tls::acceptor(&files).context("loading the https certificate")?;
                Some((acceptor, crate::tls::watch(files, current, shutdown.clone())))
            }
            None => None,
        };
        // Before any task starts, so that nothing they record is lost.
        let metrics = install_metrics();
        let db_cfg = db_cfg.clone().with_statement_timeout(args.statement_timeout());
        let db = shared::db::connect(&db_cfg)
            .await
            .context("connecting to postgres")?;
        shared::migration::migrate_directory_via(&db, &db_cfg)
            .await
            .context("migrating the directory schema")?;
        let publisher =
            Arc::new(Publisher::new(args.amqp.clone(), "scim-api").with_share(args.interactive_share()));
        // Declare the topology now if the broker is up; if not, the api still serves and the
        // relay delivers once the broker is back.
        if let Err(e) = publisher.channel().await {
            tracing::warn!(error = %e, "rabbitmq not reachable at start; changes stay in the outbox until it is");
        }
        let (dispatcher, dispatch_task) = dispatch::spawn(db.clone(), publisher.clone(), shutdown.clone());
        let relay_task = relay::spawn(db.clone(), publisher.clone(), args.relay(), shutdown.clone());
        let backfill_task = crate::mappings::spawn(db.clone(), dispatcher.clone(), shutdown.clone());
        let release_task =
            crate::deprovisioning::release::spawn(db.clone(), dispatcher.clone(), shutdown.clone());
        let (audit, audit_task) = crate::activity::spawn(db.clone(), args.audit(), shutdown.clone());
        let signals = Arc::new(crate::events::sequencer::Signals::default());
        let sequencer_task = crate::events::sequencer::spawn(
            db.clone(),
            signals.clone(),
            args.events.sequencer(),
            shutdown.clone(),
        );
        let statistics_task = shared::statistics::spawn(
            db.clone(),
            <shared::migration::directory::Migrator as shared::migration::SchemaMigrator>::SCHEMA,
            args.statistics.clone(),
            shutdown.clone(),
        );
        let auth_cache = Arc::new(crate::auth_cache::AuthCache::default());
        let auth_cache_task = args.auth_cache.then(|| {
            crate::auth_cache::spawn(
                auth_cache.clone(),
                db.clone(),
                db_cfg.direct_url().to_owned(),
                shutdown.clone(),
            )
        });
        let state = AppState(Arc::new(App {
            db: db.clone(),
            publisher,
            dispatcher,
            public_url: args.public_url.clone(),
            metrics,
            rate_limiter: crate::rate_limit::RateLimiter::new(args.rate_limit()),
            audit,
            admission: crate::admission::Admission::new(args.admission()),
            limits: args.limits(),
            allowed_hosts: args.allowed_hosts.clone(),
            events: Arc::new(crate::events::settings::Events::new(&args.events, signals)),
            schemas: Default::default(),
            auth_cache,
            creates: crate::directory::user_batch::Creates::spawn(db.clone(), args.create_statements),
        }));
        let metrics_listener = match &args.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics address {addr}"))?,
            ),
            None => None,
        };
        let metrics_router = health::metrics_router(state.clone());
        let router = router(state, args);
        let listener = TcpListener::bind(&args.bind_addr)
            .await
            .with_context(|| format!("binding {}", args.bind_addr))?;
        Ok(Self {
            listener,
            metrics_listener,
            metrics_router,
            router,
            tls: tls.as_ref().map(|(acceptor, _)| acceptor.clone()),
            tasks: [
                dispatch_task,
                relay_task,
                audit_task,
                sequencer_task,
                backfill_task,
                release_task,
            ]
            .into_iter()
            .chain(auth_cache_task)
            .chain(statistics_task)
            .chain(tls.map(|(_, watch)| watch))
            .collect(),
            shutdown,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether the SCIM listener speaks https.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn metrics_addr(&self) -> Option<std::io::Result<std::net::SocketAddr>> {
        self.metrics_listener.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until shutdown, then lets in-flight requests and the dispatcher finish.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let metrics = self.metrics_listener.map(|l| {
            let shutdown = self.shutdown.clone();
            tokio::spawn(
                axum::serve(l, self.metrics_router)
                    .with_graceful_shutdown(async move { shutdown.cancelled().await })
                    .into_future(),
            )
        });
        // The peer's address is the line of requests that carry no tenant (`admission`), and
        // the admin key throttle counts failures per client.
        crate::connections::serve(self.listener, self.tls, self.router, shutdown).await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
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
        .merge(asynchronous::router())
        .merge(search::router())
        .merge(unsupported::router())
        .merge(access::router())
        .fallback(|| async { ScimError::not_found("no such SCIM endpoint") })
        // Inside the activity log, so that refused tokens and throttled requests are logged.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.audit.clone(),
            crate::activity::record,
        ));
    let admin = admin::router(state.clone(), &args.admin).layer(middleware::from_fn_with_state(
        state.clone(),
        crate::auth::admit_client,
    ));
    // Event receivers: a poll stream authenticates with its own token; the keys are public.
    let events = Router::new()
        .route("/events/streams/{id}", post(crate::events::poll::poll))
        .route("/.well-known/jwks.json", get(crate::events::jwks::jwks))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::admit_client,
        ));
    Router::new()
        .nest("/scim/v2", scim)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(admin)
        .merge(events)
        .fallback(|| async { ScimError::not_found("no such endpoint") })
        .with_state(state)
        .layer(middleware::from_fn(record_metrics))
        // Outside admission (`auth`, `admission::admit_client`): a request waiting for a slot
        // is abandoned like one that runs too long, instead of waiting forever.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            args.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(args.max_body_bytes))
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
                        method = method_label(req.method()),
                        route = route.as_deref().unwrap_or("unmatched"),
                        tenant_id = tracing::field::Empty,
                        idp = tracing::field::Empty,
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
        .layer(middleware::from_fn(refuse_unknown_methods))
        .layer(middleware::from_fn(crate::unread_body::close_if_unread))
}

/// The methods this server has any route for. Anything else (HTTP allows any token as a method,
/// and hyper accepts tens of kilobytes of one) is refused before routing, logging or metrics
/// see it.
const KNOWN_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// A metric or span label for a method: one of [`KNOWN_METHODS`], else `other`, so that no
/// request can add a label value.
fn method_label(m: &Method) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|k| *k == m)
        .map_or("other", Method::as_str)
}

async fn refuse_unknown_methods(req: Request, next: Next) -> Response {
    if KNOWN_METHODS.contains(req.method()) {
        return next.run(req).await;
    }
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this method is not supported: use GET, POST, PUT, PATCH or DELETE",
    )
    .into_response()
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("scim_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("scim_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    resp
}
