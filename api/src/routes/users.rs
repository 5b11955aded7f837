//! `/Users`: the endpoints Okta and Entra ID provision through.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use sea_orm::TransactionTrait;
use serde_json::Value;
use uuid::Uuid;

use super::scim_json;
use crate::directory::users::{self, StoredUser};
use crate::error::ScimError;
use crate::extract::{BaseUrl, ScimBody, ScimQuery, Tenant};
use crate::outbox::Enqueued;
use crate::scim::list::{ListParams, list_response, project};
use crate::scim::schema::USER_RESOURCE;
use crate::scim::{filter, patch, resource, user};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Users", get(list).post(create))
        .route("/Users/{id}", get(read).put(replace).patch(modify).delete(remove))
}

/// Ids are UUIDs; anything else cannot name a user, so it is simply not found.
fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no user with id '{id}' in this tenant"))
}

fn respond(status: StatusCode, u: &StoredUser, base: &str, fields: Option<&ListParams>) -> Response {
    let mut body = user::render(&u.doc, &u.meta, base);
    if let Some(p) = fields {
        body = project(body, &p.attributes, &p.excluded_attributes);
    }
    let location = format!("{base}/Users/{}", u.meta.id);
    scim_json(status, &body, Some(u.meta.etag()), Some(location))
}

fn normalize(body: &Value) -> Result<user::Doc, ScimError> {
    let doc = resource::normalize(&USER_RESOURCE, body)?;
    user::validate(&doc)?;
    Ok(doc)
}

fn record_id(id: Uuid) {
    tracing::Span::current().record("scim_id", tracing::field::display(id));
}

#[tracing::instrument(name = "users.list", skip_all, fields(tenant_id = %tenant.0))]
async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimQuery(query): ScimQuery,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let parsed = params.filter.as_deref().map(filter::parse).transpose()?;
    let page = users::list(
        &state.db,
        tenant.0,
        parsed.as_ref(),
        params.offset(),
        params.count,
    )
    .await?;
    let resources = page
        .users
        .iter()
        .map(|u| {
            project(
                user::render(&u.doc, &u.meta, &base),
                &params.attributes,
                &params.excluded_attributes,
            )
        })
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, params.start_index, resources),
        None,
        None,
    ))
}

#[tracing::instrument(name = "users.create", skip_all, fields(tenant_id = %tenant.0, scim_id))]
async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let doc = normalize(&body)?;
    let txn = state.db.begin().await?;
    let (stored, queued) = users::insert(&txn, tenant.0, doc).await?;
    txn.commit().await?;
    record_id(stored.meta.id);
    tracing::info!("user created");
    state.dispatcher.send([queued]);
    Ok(respond(StatusCode::CREATED, &stored, &base, None))
}

#[tracing::instrument(name = "users.read", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn read(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let uid = parse_id(&id)?;
    let stored = users::get(&state.db, tenant.0, uid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(respond(StatusCode::OK, &stored, &base, Some(&params)))
}

#[tracing::instrument(name = "users.replace", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn replace(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let doc = normalize(&body)?;
    write(&state, tenant, uid, &base, |_| Ok(doc)).await
}

#[tracing::instrument(name = "users.patch", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn modify(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let ops = patch::parse(&body)?;
    write(&state, tenant, uid, &base, |current| {
        let mut doc = current.doc.clone();
        patch::apply(&USER_RESOURCE, &mut doc, &ops)?;
        user::validate(&doc)?;
        Ok(doc)
    })
    .await
}

/// Locks the user, derives the new document from the current one, stores it if it changed.
async fn write(
    state: &AppState,
    tenant: Tenant,
    id: Uuid,
    base: &str,
    change: impl FnOnce(&StoredUser) -> Result<user::Doc, ScimError>,
) -> Result<Response, ScimError> {
    let txn = state.db.begin().await?;
    let current = users::lock(&txn, tenant.0, id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))?;
    let doc = change(&current)?;
    let outcome = users::update(&txn, tenant.0, &current, doc).await?;
    txn.commit().await?;
    let stored = match outcome {
        Some((stored, queued)) => {
            tracing::info!(version = stored.meta.version, "user updated");
            state.dispatcher.send([queued]);
            stored
        }
        None => current,
    };
    Ok(respond(StatusCode::OK, &stored, base, None))
}

#[tracing::instrument(name = "users.delete", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let txn = state.db.begin().await?;
    let current = users::lock(&txn, tenant.0, uid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let queued: Enqueued = users::delete(&txn, tenant.0, &current).await?;
    txn.commit().await?;
    tracing::info!("user deleted");
    state.dispatcher.send([queued]);
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
