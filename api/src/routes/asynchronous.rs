//! Asynchronous requests (RFC 9967 §3). A POST, PUT, PATCH or DELETE with `Prefer:
//! respond-async` is written exactly as a synchronous one (directory row, outbox messages and
//! event row in one transaction, so a refused write is still refused at once), plus a row that
//! records the request; it is then answered `202 Accepted` with `Set-Txn`, `Preference-Applied:
//! respond-async` and a `Location` under `/AsyncRequests`. A worker settles the request's
//! messages as it applies them; once every one is settled, `GET {Location}` answers the
//! `misc:asyncresp` SET. With `wait=N` (RFC 7240) the request waits up to N seconds for that and
//! answers as a synchronous one would when the product applied it in time.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::Value;
use shared::events::completions::{self, Opened};
use tracing::Instrument;
use uuid::Uuid;

use super::resource::{EventContext, Resource};
use super::scim_json;
use crate::error::ScimError;
use crate::extract::{BaseUrl, Tenant};
use crate::outbox::{self, Enqueued};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/AsyncRequests/{txn}", get(completion))
}

/// The client's preferences (RFC 7240) that change how a write answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `respond-async`: answer 202 once the write is durable, not once the product applied it.
    pub respond_async: bool,
    /// `wait=N`: how long the client would rather wait for the product first.
    pub wait: Option<Duration>,
}

impl Prefer {
    /// Reads every `Prefer` header; unknown or malformed preferences are ignored, as RFC 7240
    /// §2 asks.
    fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut p = Self::default();
        for pref in values.flat_map(|v| v.split(',')) {
            // Parameters after `;` do not concern either preference.
            let pref = pref.split(';').next().unwrap_or_default().trim();
            let (name, value) = match pref.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (pref, None),
            };
            if name.eq_ignore_ascii_case("respond-async") {
                p.respond_async = true;
            } else if name.eq_ignore_ascii_case("wait") {
                p.wait = value.and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
            }
        }
        p
    }

    /// The request's `txn` when it asked to be answered asynchronously.
    pub(super) fn asynchronous(&self, txn: Uuid) -> Option<Uuid> {
        self.respond_async.then_some(txn)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Prefer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let values = parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self::parse(values))
    }
}

/// Runs a write; when it belongs to the asynchronous request `txn`, its messages carry it.
pub(super) async fn scoped<F: Future>(asynchronous: Option<Uuid>, write: F) -> F::Output {
    match asynchronous {
        Some(txn) => outbox::for_async_request(txn, write).await,
        None => write.await,
    }
}

/// Records the asynchronous request of a write inside the write's transaction.
pub(super) async fn open<R: Resource>(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    txn: Uuid,
    method: &'static str,
    stored: &R::Stored,
    out: &[Enqueued],
) -> Result<(), ScimError> {
    let meta = R::meta(stored);
    let req = Opened {
        txn,
        method,
        resource_type: R::TYPE,
        resource_id: meta.id,
        version: (method != "DELETE").then(|| meta.etag()),
        messages: out.iter().map(|e| e.message.message_id).collect(),
    };
    Ok(completions::open(db, tenant, &req).await?)
}

/// Creates a resource for an asynchronous POST: the create and its request row in one
/// transaction.
pub(super) async fn create<R: Resource>(
    db: &DatabaseConnection,
    tenant: Uuid,
    body: &Value,
    ev: EventContext<'_>,
) -> Result<(R::Stored, Vec<Enqueued>, bool), ScimError> {
    let txn = db.begin().await?;
    let created = outbox::for_async_request(ev.txn, R::create(&txn, None, tenant, body, ev)).await?;
    open::<R>(&txn, tenant, ev.txn, "POST", &created.0, &created.1).await?;
    txn.commit().await?;
    Ok(created)
}

/// Whether the request is complete and succeeded within the client's `wait` (capped by the long
/// poll limit, since both hold a connection open).
pub(super) async fn done_within(
    state: &AppState,
    tenant: Uuid,
    txn: Uuid,
    wait: Option<Duration>,
) -> Result<bool, ScimError> {
    let Some(wait) = wait.map(|w| w.min(state.events.long_poll)) else {
        return Ok(false);
    };
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(req) = completions::get(&state.db, tenant, txn).await?
            && req.completed_at.is_some()
        {
            return Ok(req.failure.is_none());
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// `202 Accepted` for the asynchronous request `txn`: no body, and where its completion is.
pub(super) fn accepted(txn: Uuid, base: &str) -> Response {
    let txn = txn.simple().to_string();
    let mut resp = StatusCode::ACCEPTED.into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        ("set-txn", txn.clone()),
        ("preference-applied", "respond-async".to_owned()),
        ("location", format!("{base}/AsyncRequests/{txn}")),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// `GET /AsyncRequests/{txn}`: 202 while the product has not applied the request, then its
/// completion SET: signed (`application/secevent+jwt`, the default), or its claims as JSON for
/// a client that accepts JSON and not SETs.
async fn completion(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let span = tracing::info_span!("async_request.read", tenant_id = %tenant.0, txn = %id);
    async {
        let unknown = || ScimError::not_found(format!("no asynchronous request '{id}' in this tenant"));
        let txn = Uuid::parse_str(&id).map_err(|_| unknown())?;
        let req = completions::get(&state.db, tenant.0, txn)
            .await?
            .ok_or_else(unknown)?;
        if req.completed_at.is_none() {
            let mut resp = StatusCode::ACCEPTED.into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(resp);
        }
        let claims = completions::claims(&req, &base, chrono::Utc::now().timestamp());
        if wants_json(&headers) {
            return Ok(scim_json(StatusCode::OK, &claims, None, None));
        }
        let key = state.events.keys.signing(&state.db).await?;
        let mut resp = (StatusCode::OK, key.sign(&claims)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/secevent+jwt"),
        );
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Whether `Accept` names JSON and not SETs.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    !accept.contains("secevent+jwt") && accept.contains("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Prefer {
        Prefer::parse(values.iter().copied())
    }

    #[test]
    fn preferences_are_read_from_every_header_and_unknown_ones_ignored() {
        assert_eq!(parse(&[]), Prefer::default());
        assert!(parse(&["respond-async"]).respond_async);
        assert!(parse(&["Respond-Async"]).respond_async);
        let p = parse(&["return=minimal, respond-async; foo=bar", "wait=10"]);
        assert!(p.respond_async);
        assert_eq!(p.wait, Some(Duration::from_secs(10)));
        assert_eq!(parse(&["wait=soon, respond-async"]).wait, None);
        assert!(!parse(&["respond-asynchronously"]).respond_async);
    }

    #[test]
    fn json_is_answered_only_to_clients_that_ask_for_it_and_not_for_sets() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(!wants_json(&HeaderMap::new()));
        assert!(wants_json(&h("application/scim+json")));
        assert!(!wants_json(&h("application/secevent+jwt, application/json")));
        assert!(!wants_json(&h("*/*")));
    }
}
