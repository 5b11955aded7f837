//! RFC 8936 poll delivery: `POST /events/streams/{id}` with the stream's bearer token and
//! `{maxEvents, returnImmediately, ack, setErrs}` answers `{sets, moreAvailable}`. Acknowledged
//! SETs are done; SETs handed out and not acknowledged within the ack timeout are handed out
//! again (same `jti`); `setErrs` count as acknowledgements and are recorded on the stream.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, TransactionTrait};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use shared::entity::scim_event_stream::Model as Stream;
use shared::events::set::{self, Envelope, Payload};
use tracing::Instrument;
use uuid::Uuid;

use super::{log, pending, streams};
use crate::error::ScimError;
use crate::extract::bearer;
use crate::state::AppState;

/// SETs per answer when the poll does not say (and the most it may ask for).
const MAX_EVENTS: u64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollRequest {
    max_events: Option<u64>,
    #[serde(default)]
    return_immediately: bool,
    #[serde(default)]
    ack: Vec<String>,
    #[serde(default)]
    set_errs: HashMap<String, SetErr>,
}

#[derive(Debug, Deserialize)]
struct SetErr {
    err: String,
    description: Option<String>,
}

/// Poll errors: RFC 8936 §2.5.1 leaves the body open; this one says what was wrong in the
/// RFC 8935 error form.
fn refused(status: StatusCode, err: &str, description: &str) -> Response {
    let mut res = (status, Json(json!({"err": err, "description": description}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    res
}

pub async fn poll(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let stream = match (Uuid::parse_str(&id), token) {
        (Ok(id), Some(token)) => streams::by_token(&state.db, id, crate::tokens::hash(token)).await?,
        _ => None,
    };
    let Some(stream) = stream else {
        return Ok(refused(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "send 'Authorization: Bearer <token>' with the token this stream was created with",
        ));
    };
    let span = tracing::info_span!("events.poll", tenant_id = %stream.tenant_id, stream_id = %stream.id);
    answer(&state, &stream, &body).instrument(span).await
}

async fn answer(state: &AppState, stream: &Stream, body: &[u8]) -> Result<Response, ScimError> {
    let req: PollRequest = match serde_json::from_slice(if body.is_empty() { b"{}" } else { body }) {
        Ok(r) => r,
        Err(e) => {
            return Ok(refused(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the poll request is not RFC 8936 JSON: {e}"),
            ));
        }
    };
    settle(state, stream, &req).await?;
    let max = req.max_events.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
    if max == 0 {
        // Acknowledge only (RFC 8936 §2.4.2): nothing to wait for.
        return Ok(Json(json!({"sets": {}})).into_response());
    }
    let deadline = tokio::time::Instant::now() + state.events.long_poll;
    loop {
        // Registered before looking, so a numbering between the look and the wait is not missed.
        let sequenced = state.events.signals.sequenced();
        let (sets, more) = take(state, stream.id, max).await?;
        if !sets.is_empty() || req.return_immediately || tokio::time::Instant::now() >= deadline {
            tracing::debug!(sets = sets.len(), more, "poll answered");
            return Ok(Json(json!({"sets": sets, "moreAvailable": more})).into_response());
        }
        // Other replicas' numbering is not signalled here: look again at least every 250 ms.
        let nap = tokio::time::sleep_until(
            deadline.min(tokio::time::Instant::now() + std::time::Duration::from_millis(250)),
        );
        tokio::select! {
            () = sequenced => {}
            () = nap => {}
        }
    }
}

/// Applies the poll's acknowledgements and errors.
async fn settle(state: &AppState, stream: &Stream, req: &PollRequest) -> Result<(), DbErr> {
    let mut done: Vec<Uuid> = req.ack.iter().filter_map(|j| Uuid::parse_str(j).ok()).collect();
    done.extend(req.set_errs.keys().filter_map(|j| Uuid::parse_str(j).ok()));
    pending::acknowledge(&state.db, stream.id, &done).await?;
    if !req.set_errs.is_empty() {
        let mut errs: Vec<streams::Reported> = req
            .set_errs
            .iter()
            .map(|(jti, e)| streams::Reported {
                jti: jti.chars().take(200).collect(),
                err: e.err.chars().take(100).collect(),
                description: e.description.as_ref().map(|d| d.chars().take(1000).collect()),
            })
            .collect();
        errs.sort_by(|a, b| a.jti.cmp(&b.jti));
        tracing::warn!(
            errors = errs.len(),
            "poll receiver reported SETs it could not use"
        );
        streams::record_errors(&state.db, stream.id, &errs).await?;
    }
    Ok(())
}

/// Hands out up to `max` SETs: overdue unacknowledged ones first, then new ones in sequence
/// order. The stream is locked meanwhile, so concurrent polls of one stream take turns and
/// never hand out a SET twice at once.
async fn take(state: &AppState, id: Uuid, max: u64) -> Result<(Map<String, Value>, bool), ScimError> {
    let txn = state.db.begin().await?;
    let Some(stream) = streams::lock(&txn, id).await? else {
        return Ok((Map::new(), false));
    };
    let overdue = pending::overdue(&txn, id, state.events.ack_timeout, max).await?;
    let mut events = log::numbered(&txn, stream.tenant_id, &overdue).await?;
    let room = max.saturating_sub(events.len() as u64);
    let mut position = stream.position;
    let mut more = overdue.len() as u64 == max;
    if room > 0 {
        // A filtered stream may skip many events; the look-ahead is bounded per poll.
        let scan = room.max(MAX_EVENTS);
        let fresh = log::after(&txn, stream.tenant_id, position, scan).await?;
        more |= fresh.len() as u64 == scan;
        let filter = stream.event_uris.as_deref();
        let payload = payload_of(&stream);
        let mut taken = 0;
        for ev in fresh {
            if taken == room {
                more = true;
                break;
            }
            position = ev.sequence.unwrap_or(position);
            if set::wanted(filter, &set::uris(&ev, payload)) {
                events.push(ev);
                taken += 1;
            }
        }
    }
    let handed: Vec<(i64, Uuid)> = events
        .iter()
        .filter_map(|e| e.sequence)
        .map(|n| (n, set::jti(id, n)))
        .collect();
    pending::handed_out(&txn, id, &handed).await?;
    streams::advance(&txn, id, position, !events.is_empty()).await?;
    txn.commit().await?;
    let key = state.events.keys.signing(&state.db).await?;
    let env = Envelope {
        stream: id,
        payload: payload_of(&stream),
        issuer: &stream.issuer,
        audience: &stream.audience,
    };
    let iat = chrono::Utc::now().timestamp();
    let mut sets = Map::new();
    for ev in &events {
        let claims = set::claims(ev, &env, iat);
        let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
        sets.insert(jti, Value::String(key.sign(&claims)));
    }
    Ok((sets, more))
}

fn payload_of(stream: &Stream) -> Payload {
    Payload::parse(&stream.payload).unwrap_or(Payload::Full)
}
