//! `/admin/api/tenants/{id}/event-streams`: a tenant's change event streams (RFC 9967 SETs
//! delivered by RFC 8936 poll or RFC 8935 push).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use shared::entity::scim_event_stream::Model;
use shared::events::set::{self, Payload};
use uuid::Uuid;

use super::schema::{CreatedEventStream, EventStream, EventStreamList, NewEventStream, Replay, Replaying};
use crate::admin::error::{AdminError, ErrorBody};
use crate::admin::{Admin, ScimBaseUrl, tenants};
use crate::events::{endpoint, log, pending, streams};

/// Create an event stream.
///
/// A poll stream answers RFC 8936 at `poll_url` with the token returned here (once); a push
/// stream POSTs every SET to `endpoint` (RFC 8935). Either starts with the changes committed
/// from now on.
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/event-streams",
    operation_id = "createEventStream",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = NewEventStream,
    responses(
        (status = 201, description = "Created; a poll stream's token is shown in this response only.", body = CreatedEventStream),
        (status = 400, description = "A field is missing or wrong, or the endpoint is refused.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn create_event_stream(
    State(admin): State<Admin>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
    body: Result<Json<NewEventStream>, JsonRejection>,
) -> Result<impl IntoResponse, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    tenants::get(&admin.app.db, tenant).await?;
    let payload = match body.payload.as_deref() {
        None => Payload::Full,
        Some(p) => Payload::parse(p).ok_or_else(|| {
            AdminError::BadRequest(format!("payload must be 'full' or 'notice', not '{p}'"))
        })?,
    };
    let unknown = body
        .events
        .iter()
        .flatten()
        .find(|u| !set::URIS.contains(&u.as_str()));
    if let Some(bad) = unknown {
        return Err(AdminError::BadRequest(format!(
            "'{bad}' is not an event this server sends; use one of {}",
            set::URIS.join(", ")
        )));
    }
    let stream_id = Uuid::now_v7();
    let origin = base.strip_suffix("/scim/v2").unwrap_or(&base).to_owned();
    let audience = format!("{origin}/events/streams/{stream_id}");
    let mut new = streams::New {
        id: stream_id,
        tenant_id: tenant,
        delivery: "poll",
        endpoint: None,
        authorization_header: None,
        token_hash: None,
        event_uris: body.events.clone(),
        payload: payload.as_str(),
        issuer: base.clone(),
        audience: audience.clone(),
        position: log::last_number(&admin.app.db, tenant).await?,
    };
    let mut token = None;
    match body.delivery.as_str() {
        "poll" => {
            if body.endpoint.is_some() || body.authorization.is_some() {
                return Err(AdminError::BadRequest(
                    "a poll stream has no endpoint or authorization: its receiver polls".into(),
                ));
            }
            let t = new_stream_token();
            new.token_hash = Some(crate::tokens::hash(&t));
            token = Some(t);
        }
        "push" => {
            let Some(url) = &body.endpoint else {
                return Err(AdminError::BadRequest("a push stream needs an endpoint".into()));
            };
            let url = endpoint::check(url, admin.app.events.allow_insecure_endpoints)
                .await
                .map_err(|e| AdminError::BadRequest(e.to_string()))?;
            if let Some(a) = &body.authorization
                && axum::http::HeaderValue::from_str(a).is_err()
            {
                return Err(AdminError::BadRequest(
                    "authorization must be a valid header value (e.g. 'Bearer <token>')".into(),
                ));
            }
            new.delivery = "push";
            new.endpoint = Some(url.to_string());
            new.authorization_header = body.authorization.clone();
        }
        other => {
            return Err(AdminError::BadRequest(format!(
                "delivery must be 'poll' or 'push', not '{other}'"
            )));
        }
    }
    let row = streams::insert(&admin.app.db, new).await?;
    tracing::info!(tenant_id = %tenant, stream_id = %row.id, delivery = %row.delivery, "event stream created");
    let poll = row.delivery == "poll";
    Ok((
        StatusCode::CREATED,
        Json(CreatedEventStream {
            stream_id: row.id,
            delivery: row.delivery,
            poll_url: poll.then_some(audience),
            token,
        }),
    ))
}

/// List a tenant's event streams, with where each stands.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/event-streams",
    operation_id = "listEventStreams",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The streams.", body = EventStreamList),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn list_event_streams(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<EventStreamList>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    Ok(Json(EventStreamList {
        streams: of_tenant(&admin.app.db, tenant).await?,
    }))
}

/// A tenant's streams as the API and the admin page show them.
pub async fn of_tenant(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
) -> Result<Vec<EventStream>, AdminError> {
    let last = log::last_number(db, tenant).await?;
    let mut out = Vec::new();
    for s in streams::of_tenant(db, tenant).await? {
        let unacknowledged = pending::count(db, s.id).await?;
        out.push(view(s, last, unacknowledged));
    }
    Ok(out)
}

fn view(s: Model, last: i64, unacknowledged: u64) -> EventStream {
    let poll = s.delivery == "poll";
    EventStream {
        stream_id: s.id,
        poll_url: poll.then(|| s.audience.clone()),
        delivery: s.delivery,
        endpoint: s.endpoint,
        events: s.event_uris,
        payload: s.payload,
        position: s.position,
        backlog: (last - s.position).max(0),
        unacknowledged,
        last_delivery_at: s.last_delivery_at.map(Into::into),
        last_error: s.last_error,
        last_error_at: s.last_error_at.map(Into::into),
        paused: s.paused_reason.is_some(),
        paused_reason: s.paused_reason,
        created_at: s.created_at.into(),
    }
}

/// Delete an event stream; its undelivered SETs are dropped.
#[utoipa::path(
    delete,
    path = "/admin/api/tenants/{id}/event-streams/{sid}",
    operation_id = "deleteEventStream",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("sid" = uuid::Uuid, Path, description = "Stream id."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such tenant or stream.", body = ErrorBody),
    ),
)]
pub async fn delete_event_stream(
    State(admin): State<Admin>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let sid = tenants::parse_id(&sid)?;
    if !streams::delete(&admin.app.db, tenant, sid).await? {
        return Err(AdminError::NotFound);
    }
    tracing::info!(tenant_id = %tenant, stream_id = %sid, "event stream deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Send a stream's SETs again from a point in time (within the event retention).
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/event-streams/{sid}/replay",
    operation_id = "replayEventStream",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("sid" = uuid::Uuid, Path, description = "Stream id."),
    ),
    request_body = Replay,
    responses(
        (status = 200, description = "The stream continues after `position`.", body = Replaying),
        (status = 400, description = "`from` is missing or not RFC 3339.", body = ErrorBody),
        (status = 404, description = "No such tenant or stream.", body = ErrorBody),
    ),
)]
pub async fn replay_event_stream(
    State(admin): State<Admin>,
    Path((id, sid)): Path<(String, String)>,
    body: Result<Json<Replay>, JsonRejection>,
) -> Result<Json<Replaying>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let sid = tenants::parse_id(&sid)?;
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let db = &admin.app.db;
    streams::get(db, tenant, sid).await?.ok_or(AdminError::NotFound)?;
    let position = log::position_before(db, tenant, body.from).await?;
    pending::clear(db, sid).await?;
    streams::rewind(db, sid, position).await?;
    tracing::info!(tenant_id = %tenant, stream_id = %sid, position, "event stream replays");
    Ok(Json(Replaying {
        stream_id: sid,
        position,
    }))
}

/// A poll stream's bearer token: `scimev_` and 256 random bits in hex.
pub fn new_stream_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("scimev_{hex}")
}
