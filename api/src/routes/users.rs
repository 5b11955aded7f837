//! `/Users`: the endpoints Okta and Entra ID provision through.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{not_modified, scim_json};
use crate::directory::bounded::BoundedRead;
use crate::directory::users::{self, StoredUser};
use crate::directory::{Query, Scope, USER_KEYS, memberships};
use crate::error::ScimError;
use crate::extract::{BaseUrl, Conditional, ScimBody, ScimQuery, Tenant};
use crate::outbox::Enqueued;
use crate::scim::list::{ListParams, list_response, project, requested};
use crate::scim::schema::USER_RESOURCE;
use crate::scim::{filter, patch, resource, user};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Users", get(list).post(create))
        .route("/Users/.search", post(search))
        .route("/Users/{id}", get(read).put(replace).patch(modify).delete(remove))
}

/// Ids are UUIDs; anything else cannot name a user, so it is simply not found.
fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no user with id '{id}' in this tenant"))
}

fn respond(status: StatusCode, body: &Value, u: &StoredUser, base: &str) -> Response {
    let location = format!("{base}/Users/{}", u.meta.id);
    scim_json(status, body, Some(u.meta.etag()), Some(location))
}

/// Renders users with their read-only `groups` (live memberships of live groups; omitted when
/// there are none), then projects them. The groups of all of them come from one query, and
/// none when the projection leaves `groups` out.
async fn render(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    base: &str,
    users: &[StoredUser],
    params: Option<&ListParams>,
) -> Result<Vec<Value>, ScimError> {
    let with_groups = params.is_none_or(|p| requested("groups", &p.attributes, &p.excluded_attributes, true));
    let mut groups = if with_groups {
        let ids: Vec<Uuid> = users.iter().map(|u| u.meta.id).collect();
        memberships::groups_of(db, tenant, &ids).await?
    } else {
        HashMap::new()
    };
    Ok(users
        .iter()
        .map(|u| {
            let mut body = user::render(&u.doc, &u.meta, base);
            if let (Some(gs), Value::Object(obj)) = (groups.remove(&u.meta.id), &mut body) {
                let refs = gs
                    .iter()
                    .map(|g| user::group_ref(g.group_id, &g.display_name, base))
                    .collect();
                obj.insert("groups".into(), Value::Array(refs));
            }
            match params {
                Some(p) => project(body, &p.attributes, &p.excluded_attributes),
                None => body,
            }
        })
        .collect())
}

async fn render_one(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    base: &str,
    u: &StoredUser,
    params: Option<&ListParams>,
) -> Result<Value, ScimError> {
    let mut all = render(db, tenant, base, std::slice::from_ref(u), params).await?;
    Ok(all.pop().unwrap_or_default())
}

/// A POST body as stored.
fn normalize(body: &Value) -> Result<user::Doc, ScimError> {
    let doc = resource::normalize(&USER_RESOURCE, body)?;
    user::validate(&doc, None)?;
    Ok(doc)
}

fn record_id(id: Uuid) {
    tracing::Span::current().record("scim_id", tracing::field::display(id));
}

/// One page of users as lists show them, and how many match in all.
pub(super) async fn list_page(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    base: &str,
    params: &ListParams,
    q: &Query<'_>,
) -> Result<(i64, Vec<Value>), ScimError> {
    let page = users::list(db, tenant, q).await?;
    let resources = render(db, tenant, base, &page.users, Some(params)).await?;
    Ok((page.total, resources))
}

async fn respond_list(
    state: &AppState,
    tenant: Tenant,
    base: &str,
    params: &ListParams,
) -> Result<Response, ScimError> {
    let parsed = params.filter.as_deref().map(filter::parse).transpose()?;
    let q = Query {
        filter: parsed.as_ref(),
        sort: params.sort.as_ref(),
        scope: Scope::OneType,
        offset: params.offset(),
        limit: params.count,
    };
    q.check_cost()?;
    let (total, resources) = if q.is_expensive(USER_KEYS) {
        let read = BoundedRead::begin(state, tenant.0, state.limits.filter_timeout).await?;
        let page = list_page(read.conn(), tenant.0, base, params, &q).await;
        read.finish(page).await?
    } else {
        list_page(&state.db, tenant.0, base, params, &q).await?
    };
    Ok(scim_json(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
        None,
        None,
    ))
}

#[tracing::instrument(name = "users.list", skip_all, fields(tenant_id = %tenant.0))]
async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimQuery(query): ScimQuery,
) -> Result<Response, ScimError> {
    respond_list(&state, tenant, &base, &ListParams::from_query(&query)?).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): a list whose parameters travel in the body, so
/// that filters stay out of URLs and logs. Answers 200, as a list does.
#[tracing::instrument(name = "users.search", skip_all, fields(tenant_id = %tenant.0))]
async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    respond_list(&state, tenant, &base, &ListParams::from_search_request(&body)?).await
}

#[tracing::instrument(name = "users.create", skip_all, fields(tenant_id = %tenant.0, scim_id))]
async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let doc = normalize(&body)?;
    let (stored, queued) = users::insert(&state.db, tenant.0, doc).await?;
    record_id(stored.meta.id);
    tracing::info!("user created");
    state.dispatcher.send([queued]);
    // A new user is in no group yet.
    let body = user::render(&stored.doc, &stored.meta, &base);
    Ok(respond(StatusCode::CREATED, &body, &stored, &base))
}

#[tracing::instrument(name = "users.read", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn read(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
    cond: Conditional,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let uid = parse_id(&id)?;
    let stored = users::get(&state.db, tenant.0, uid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if cond.check_read(&stored.meta.etag())? {
        return Ok(not_modified(stored.meta.etag()));
    }
    let body = render_one(&state.db, tenant.0, &base, &stored, Some(&params)).await?;
    Ok(respond(StatusCode::OK, &body, &stored, &base))
}

#[tracing::instrument(name = "users.replace", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn replace(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    cond: Conditional,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let doc = resource::normalize(&USER_RESOURCE, &body)?;
    // Checked against the user it replaces (see `user::validate`).
    write(&state, tenant, uid, &base, &cond, |current| {
        user::validate(&doc, Some(&current.doc))?;
        Ok(doc)
    })
    .await
}

#[tracing::instrument(name = "users.patch", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn modify(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    cond: Conditional,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let ops = patch::parse(&body)?;
    write(&state, tenant, uid, &base, &cond, |current| {
        let mut doc = current.doc.clone();
        patch::apply(&USER_RESOURCE, &mut doc, &ops)?;
        user::validate(&doc, Some(&current.doc))?;
        Ok(doc)
    })
    .await
}

/// Locks the user, derives the new document from the current one, checks the preconditions
/// against the locked version, and stores the document if it changed. An invalid change is a
/// 400 before any precondition is looked at (RFC 7232 §5: errors come first).
async fn write(
    state: &AppState,
    tenant: Tenant,
    id: Uuid,
    base: &str,
    cond: &Conditional,
    change: impl FnOnce(&StoredUser) -> Result<user::Doc, ScimError>,
) -> Result<Response, ScimError> {
    let txn = state.db.begin().await?;
    let current = users::lock(&txn, tenant.0, id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))?;
    let doc = change(&current)?;
    cond.check_write(&current.meta.etag())?;
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
    let body = render_one(&state.db, tenant.0, base, &stored, None).await?;
    Ok(respond(StatusCode::OK, &body, &stored, base))
}

#[tracing::instrument(name = "users.delete", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    cond: Conditional,
) -> Result<Response, ScimError> {
    let uid = parse_id(&id)?;
    let txn = state.db.begin().await?;
    let current = users::lock(&txn, tenant.0, uid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    cond.check_write(&current.meta.etag())?;
    let queued: Enqueued = users::delete(&txn, tenant.0, &current).await?;
    // A deleted user leaves its groups in the same transaction: one removal per group.
    let left = memberships::remove_user(&txn, tenant.0, uid).await?;
    txn.commit().await?;
    tracing::info!(groups_left = left.len(), "user deleted");
    state.dispatcher.send(std::iter::once(queued).chain(left));
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
