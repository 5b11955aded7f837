//! The SCIM activity log (`scim.audit`): one row per SCIM request that a tenant's token
//! authenticated, with its time, method, route template, resource, status, latency and a few
//! words of outcome. Never a body, a query string (filters carry user names) or a header other
//! than the client's name.
//!
//! Best-effort by design: a middleware on `/scim/v2` hands each row to a background writer over a
//! bounded channel and never waits. When the channel is full, or the database refuses a batch,
//! rows are dropped and counted in `scim_audit_dropped_total`; a SCIM request is never slowed or
//! failed for the log's sake. The writer inserts in batches and purges rows past the retention.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait, FromQueryResult,
    Iterable, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use shared::db::interval;
use shared::entity::scim_audit::{Column, Entity};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{ScimType, chain};

/// Rows waiting for the writer; beyond this they are dropped.
const CAPACITY: usize = 10_000;
const MAX_BATCH: usize = 500;
/// After the first row of a batch arrives the writer waits this long for more, so a busy api
/// writes a few inserts a second rather than one per request.
const GATHER: Duration = Duration::from_millis(200);
const PURGE_CHUNK: u64 = 10_000;
const MAX_CLIENT_CHARS: usize = 120;

/// Filled by `auth::authenticate` once a token is authenticated; requests that never get that
/// far (no or bad token) are not attributed to anyone and not logged.
#[derive(Clone, Default)]
pub struct TenantSlot(Arc<OnceLock<Uuid>>);

impl TenantSlot {
    pub fn fill(&self, tenant_id: Uuid) {
        let _ = self.0.set(tenant_id);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct AuditConfig {
    /// Rows older than this are deleted.
    pub retention: Duration,
    pub purge_every: Duration,
}

/// The sending side, cheap to clone into request state.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Entry>,
}

impl AuditLog {
    /// Queues a row without waiting; returns false if it was dropped.
    fn send(&self, entry: Entry) -> bool {
        match self.tx.try_send(entry) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("scim_audit_dropped_total", "reason" => "queue_full").increment(1);
                false
            }
        }
    }
}

/// A row to insert: serialised, its field names are the columns of `scim.audit`.
#[derive(Debug, Serialize)]
struct Entry {
    at: DateTime<Utc>,
    tenant_id: Uuid,
    method: String,
    route: String,
    resource_type: Option<&'static str>,
    resource_id: Option<Uuid>,
    status: u16,
    latency_ms: i32,
    outcome: String,
    client: Option<String>,
    trace_id: Option<String>,
}

/// Middleware for the `/scim/v2` routes.
pub async fn record(State(log): State<AuditLog>, mut req: Request, next: Next) -> Response {
    let slot = TenantSlot::default();
    req.extensions_mut().insert(slot.clone());
    let (at, started) = (Utc::now(), Instant::now());
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().trim_start_matches("/scim/v2").to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let path_id = id_from_path(&route, req.uri().path());
    let client = client(req.headers());
    let trace_id = crate::trace_context::current_trace_id();
    let resp = next.run(req).await;
    let Some(&tenant_id) = slot.0.get() else {
        return resp;
    };
    log.send(Entry {
        at,
        tenant_id,
        method,
        resource_type: resource_type(&route),
        resource_id: id_from_location(resp.headers()).or(path_id),
        route,
        status: resp.status().as_u16(),
        latency_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        outcome: outcome(&resp),
        client,
        trace_id,
    });
    resp
}

fn resource_type(route: &str) -> Option<&'static str> {
    if route.starts_with("/Users") {
        Some("User")
    } else if route.starts_with("/Groups") {
        Some("Group")
    } else {
        None
    }
}

fn id_from_path(route: &str, path: &str) -> Option<Uuid> {
    if !route.ends_with("/{id}") {
        return None;
    }
    path.rsplit('/').next().and_then(|s| Uuid::parse_str(s).ok())
}

/// A created resource's id, from the `Location` of a 201.
fn id_from_location(headers: &HeaderMap) -> Option<Uuid> {
    let loc = headers.get(header::LOCATION)?.to_str().ok()?;
    Uuid::parse_str(loc.trim_end_matches('/').rsplit('/').next()?).ok()
}

/// The SCIM error type where there is one (`uniqueness`), else the status's reason.
fn outcome(resp: &Response) -> String {
    if let Some(ScimType(t)) = resp.extensions().get::<ScimType>() {
        return (*t).to_owned();
    }
    resp.status()
        .canonical_reason()
        .unwrap_or("unknown")
        .to_ascii_lowercase()
}

fn client(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    Some(ua.chars().take(MAX_CLIENT_CHARS).collect())
}

/// Starts the writer; it ends after shutdown once the rows already queued are written.
pub fn spawn(
    db: DatabaseConnection,
    cfg: AuditConfig,
    shutdown: CancellationToken,
) -> (AuditLog, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    (AuditLog { tx }, tokio::spawn(write_loop(db, cfg, rx, shutdown)))
}

async fn write_loop(
    db: DatabaseConnection,
    cfg: AuditConfig,
    mut rx: mpsc::Receiver<Entry>,
    shutdown: CancellationToken,
) {
    let mut purge = tokio::time::interval(cfg.purge_every);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    break;
                }
                tokio::time::sleep(GATHER).await;
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                write(&db, &mut batch).await;
            }
            _ = purge.tick() => {
                if let Err(e) = purge_older_than(&db, cfg.retention).await {
                    tracing::warn!(error = %chain(&e), "could not purge old activity rows");
                }
            }
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                    write(&db, &mut batch).await;
                }
                break;
            }
        }
    }
}

async fn write(db: &DatabaseConnection, batch: &mut Vec<Entry>) {
    if let Err(e) = insert(db, batch).await {
        metrics::counter!("scim_audit_dropped_total", "reason" => "database").increment(batch.len() as u64);
        tracing::warn!(error = %chain(&e), rows = batch.len(), "could not write activity rows; dropped");
    }
    batch.clear();
}

/// One statement for the whole batch, its rows in one JSON parameter: a single statement text
/// whatever the batch size, so the connections' prepared-statement caches are not churned.
async fn insert(db: &DatabaseConnection, batch: &[Entry]) -> Result<(), DbErr> {
    let rows = serde_json::to_value(batch).map_err(|e| DbErr::Custom(e.to_string()))?;
    let columns = || Column::iter().filter(|c| !matches!(c, Column::Id));
    // `jsonb_populate_recordset(null::scim.audit, rows)`: the rows typed as the table's own.
    let table_type = (Alias::new(Entity.schema_name().unwrap_or("public")), Entity);
    let recordset = Func::cust("jsonb_populate_recordset")
        .arg(Func::cast_as_quoted(Expr::null(), table_type))
        .arg(Expr::val(rows));
    let select = Query::select()
        .columns(columns())
        .from_function(recordset, Alias::new("r"))
        .take();
    let insert = Query::insert()
        .into_table(Entity.table_ref())
        .columns(columns())
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .take();
    db.execute(&insert).await?;
    Ok(())
}

/// Deletes in chunks, so a large backlog never holds one long transaction.
async fn purge_older_than(db: &DatabaseConnection, retention: Duration) -> Result<u64, DbErr> {
    let mut total = 0;
    loop {
        let chunk = Query::select()
            .column(Column::Id)
            .from(Entity.table_ref())
            .and_where(Expr::col(Column::At).lt(Expr::current_timestamp().sub(interval(retention))))
            .order_by(Column::At, sea_orm::Order::Asc)
            .limit(PURGE_CHUNK)
            .take();
        let res = Entity::delete_many()
            .filter(Column::Id.in_subquery(chunk))
            .exec(db)
            .await?;
        total += res.rows_affected;
        if res.rows_affected < PURGE_CHUNK {
            if total > 0 {
                tracing::info!(rows = total, "purged old activity rows");
            }
            return Ok(total);
        }
    }
}

/// One row of a tenant's activity, as the admin page and API show it.
#[derive(Debug, Serialize, FromQueryResult)]
pub struct Activity {
    pub at: DateTime<Utc>,
    pub method: String,
    pub route: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub status: i16,
    pub latency_ms: i32,
    pub outcome: String,
    pub client: Option<String>,
    /// Grep the api's and the workers' logs for it to follow the change.
    pub trace_id: Option<String>,
}

impl Activity {
    /// The identity provider its User-Agent names, if any.
    pub fn idp(&self) -> Option<&'static str> {
        self.client
            .as_deref()
            .and_then(crate::client::Idp::from_user_agent)
            .map(crate::client::Idp::name)
    }

    /// What the identity provider did, in the words of its admin console.
    pub fn operation(&self) -> &'static str {
        let one = self.route.ends_with("/{id}");
        match (self.method.as_str(), one, self.resource_type.is_some()) {
            (_, _, false) => "discovery",
            ("GET", true, _) => "read",
            ("GET", false, _) => "list",
            ("POST", _, _) => "create",
            ("PUT", _, _) => "replace",
            ("PATCH", _, _) => "update",
            ("DELETE", _, _) => "delete",
            _ => "other",
        }
    }
}

/// The tenant's latest rows, newest first.
pub async fn recent(db: &DatabaseConnection, tenant_id: Uuid, limit: u64) -> Result<Vec<Activity>, DbErr> {
    Entity::find()
        .select_only()
        .columns(Column::iter().filter(|c| !matches!(c, Column::Id | Column::TenantId)))
        .filter(Column::TenantId.eq(tenant_id))
        .order_by_desc(Column::At)
        .order_by_desc(Column::Id)
        .limit(limit)
        .into_model()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            at: Utc::now(),
            tenant_id: Uuid::now_v7(),
            method: "GET".into(),
            route: "/Users".into(),
            resource_type: Some("User"),
            resource_id: None,
            status: 200,
            latency_ms: 1,
            outcome: "ok".into(),
            client: None,
            trace_id: None,
        }
    }

    #[test]
    fn a_full_queue_drops_rows_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let log = AuditLog { tx };
        assert!(log.send(entry()));
        assert!(!log.send(entry()), "the second row does not fit and is dropped");
    }

    #[test]
    fn resource_ids_come_from_the_location_or_the_path() {
        let id = Uuid::now_v7();
        let mut h = HeaderMap::new();
        h.insert(
            header::LOCATION,
            format!("https://scim.example.com/scim/v2/Users/{id}")
                .parse()
                .unwrap(),
        );
        assert_eq!(id_from_location(&h), Some(id));
        assert_eq!(
            id_from_path("/Users/{id}", &format!("/scim/v2/Users/{id}")),
            Some(id)
        );
        assert_eq!(id_from_path("/Users", "/scim/v2/Users"), None);
        assert_eq!(id_from_path("/Users/{id}", "/scim/v2/Users/not-a-uuid"), None);
    }

    #[test]
    fn operations_are_named_as_an_idp_admin_would() {
        let row = |method: &str, route: &str, rt: Option<&str>| Activity {
            at: Utc::now(),
            method: method.into(),
            route: route.into(),
            resource_type: rt.map(str::to_owned),
            resource_id: None,
            status: 200,
            latency_ms: 1,
            outcome: "ok".into(),
            client: None,
            trace_id: None,
        };
        assert_eq!(row("POST", "/Users", Some("User")).operation(), "create");
        assert_eq!(row("GET", "/Users", Some("User")).operation(), "list");
        assert_eq!(row("GET", "/Groups/{id}", Some("Group")).operation(), "read");
        assert_eq!(row("PATCH", "/Users/{id}", Some("User")).operation(), "update");
        assert_eq!(row("GET", "/Schemas", None).operation(), "discovery");
    }

    #[test]
    fn client_names_are_truncated() {
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, "x".repeat(500).parse().unwrap());
        assert_eq!(client(&h).unwrap().len(), MAX_CLIENT_CHARS);
    }
}
