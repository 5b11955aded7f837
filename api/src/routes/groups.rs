//! `/Groups`: group push from Okta and group provisioning from Entra ID. A group's document and
//! its membership are written in one transaction; membership changes touch only the pairs that
//! change, so a one-member PATCH to a 20,000-member group costs a handful of rows.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{no_content, not_modified, scim_json};
use crate::directory::bounded::BoundedRead;
use crate::directory::groups::{self, StoredGroup};
use crate::directory::memberships::{self, Member};
use crate::directory::{GROUP_KEYS, Query, Scope};
use crate::error::ScimError;
use crate::extract::{BaseUrl, Conditional, ScimBody, ScimQuery, Tenant};
use crate::outbox::Enqueued;
use crate::scim::list::{ListParams, list_response, project, requested};
use crate::scim::members::{self, Change};
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::{filter, group, patch};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Groups", get(list).post(create))
        .route("/Groups/.search", post(search))
        .route(
            "/Groups/{id}",
            get(read).put(replace).patch(modify).delete(remove),
        )
}

/// Ids are UUIDs; anything else cannot name a group, so it is simply not found.
fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no group with id '{id}' in this tenant"))
}

fn record_id(id: Uuid) {
    tracing::Span::current().record("scim_id", tracing::field::display(id));
}

fn render_members(members: Vec<Member>, base: &str) -> Vec<Value> {
    members
        .iter()
        .map(|m| group::member(m.user_id, &m.user_name, base))
        .collect()
}

/// One group as a response: members unless the request projects them away (then they are not
/// even read), `attributes`/`excludedAttributes` applied.
async fn respond(
    db: &impl ConnectionTrait,
    status: StatusCode,
    g: &StoredGroup,
    base: &str,
    params: &ListParams,
) -> Result<Response, ScimError> {
    let members = if requested("members", &params.attributes, &params.excluded_attributes, true) {
        let mut all = memberships::of_groups(db, &[g.meta.id]).await?;
        Some(render_members(all.remove(&g.meta.id).unwrap_or_default(), base))
    } else {
        None
    };
    let body = project(
        group::render(&g.doc, &g.meta, base, members),
        &params.attributes,
        &params.excluded_attributes,
    );
    let location = format!("{base}/Groups/{}", g.meta.id);
    Ok(scim_json(status, &body, Some(g.meta.etag()), Some(location)))
}

/// One page of groups as lists show them, and how many match in all. Lists leave members out
/// unless `attributes` names them: a page of large groups must stay cheap, and IdPs look groups
/// up by displayName, not by membership. When asked for, the members of the whole page are
/// read in one query, and the page ends early where its members would pass `member_budget`
/// (RFC 7644 §3.4.2.4: `itemsPerPage` tells the client how far it got), so no list answer
/// holds more members than that, whatever `count` asked for.
pub(super) async fn list_page(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    base: &str,
    params: &ListParams,
    q: &Query<'_>,
    member_budget: usize,
) -> Result<(i64, Vec<Value>), ScimError> {
    let mut page = groups::list(db, tenant, q).await?;
    let with_members = requested("members", &params.attributes, &params.excluded_attributes, false);
    let mut members = if with_members {
        let ids: Vec<Uuid> = page.groups.iter().map(|g| g.meta.id).collect();
        let counts = memberships::counts(db, &ids).await?;
        let fits = fitting(&page.groups, &counts, member_budget)?;
        page.groups.truncate(fits);
        let ids: Vec<Uuid> = page.groups.iter().map(|g| g.meta.id).collect();
        memberships::of_groups(db, &ids).await?
    } else {
        HashMap::new()
    };
    let resources = page
        .groups
        .iter()
        .map(|g| {
            let m =
                with_members.then(|| render_members(members.remove(&g.meta.id).unwrap_or_default(), base));
            project(
                group::render(&g.doc, &g.meta, base, m),
                &params.attributes,
                &params.excluded_attributes,
            )
        })
        .collect();
    Ok((page.total, resources))
}

/// How many groups of the page fit in the member budget. A first group that alone exceeds it
/// cannot be listed with its members at all: the client is told how to read it instead.
fn fitting(groups: &[StoredGroup], counts: &HashMap<Uuid, i64>, budget: usize) -> Result<usize, ScimError> {
    let mut used = 0usize;
    for (i, g) in groups.iter().enumerate() {
        let n = counts
            .get(&g.meta.id)
            .map_or(0, |&n| usize::try_from(n).unwrap_or(usize::MAX));
        used = used.saturating_add(n);
        if used > budget {
            if i == 0 {
                return Err(ScimError::bad_request(
                    "tooMany",
                    format!(
                        "group '{}' has {n} members, more than the {budget} a list answer carries; \
                         list groups with excludedAttributes=members and read this one with \
                         GET /Groups/{}",
                        g.meta.id, g.meta.id
                    ),
                ));
            }
            return Ok(i);
        }
    }
    Ok(groups.len())
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
    let budget = state.limits.list_max_members;
    let expensive = q.is_expensive(GROUP_KEYS)
        || requested("members", &params.attributes, &params.excluded_attributes, false);
    let (total, resources) = if expensive {
        let read = BoundedRead::begin(state, tenant.0, state.limits.filter_timeout).await?;
        let page = list_page(read.conn(), tenant.0, base, params, &q, budget).await;
        read.finish(page).await?
    } else {
        list_page(&state.db, tenant.0, base, params, &q, budget).await?
    };
    Ok(scim_json(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
        None,
        None,
    ))
}

#[tracing::instrument(name = "groups.list", skip_all, fields(tenant_id = %tenant.0))]
async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimQuery(query): ScimQuery,
) -> Result<Response, ScimError> {
    respond_list(&state, tenant, &base, &ListParams::from_query(&query)?).await
}

/// `POST /Groups/.search` (RFC 7644 §3.4.3): a list whose parameters travel in the body.
#[tracing::instrument(name = "groups.search", skip_all, fields(tenant_id = %tenant.0))]
async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    respond_list(&state, tenant, &base, &ListParams::from_search_request(&body)?).await
}

#[tracing::instrument(name = "groups.create", skip_all, fields(tenant_id = %tenant.0, scim_id))]
async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimQuery(query): ScimQuery,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let parsed = group::parse(&body)?;
    let txn = state.db.begin().await?;
    let (stored, queued) = groups::insert(&txn, tenant.0, parsed.doc).await?;
    let mut out = vec![queued];
    if let Some(ids) = parsed.members {
        let users = memberships::resolve_users(&txn, tenant.0, &ids).await?;
        out.extend(memberships::add(&txn, tenant.0, stored.meta.id, &users).await?);
    }
    txn.commit().await?;
    record_id(stored.meta.id);
    tracing::info!(members = out.len() - 1, "group created");
    state.dispatcher.send(out);
    respond(&state.db, StatusCode::CREATED, &stored, &base, &params).await
}

#[tracing::instrument(name = "groups.read", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn read(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
    cond: Conditional,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let gid = parse_id(&id)?;
    let stored = groups::get(&state.db, tenant.0, gid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if cond.check_read(&stored.meta.etag())? {
        return Ok(not_modified(stored.meta.etag()));
    }
    respond(&state.db, StatusCode::OK, &stored, &base, &params).await
}

/// PUT replaces the attributes and, when the body has `members`, sets the membership to exactly
/// that list (adds and removes only the difference). A body without `members` leaves the
/// membership alone (RFC 7644 §3.5.1 lets omitted attributes be "not asserted"): a rename by
/// PUT must not empty a large group.
#[tracing::instrument(name = "groups.replace", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn replace(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
    cond: Conditional,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let gid = parse_id(&id)?;
    let parsed = group::parse(&body)?;
    let txn = state.db.begin().await?;
    let current = groups::lock(&txn, tenant.0, gid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let changes: Vec<Change> = parsed.members.into_iter().map(Change::Replace).collect();
    let (stored, out) = write(&txn, tenant.0, current, parsed.doc, changes, &cond).await?;
    txn.commit().await?;
    state.dispatcher.send(out);
    respond(&state.db, StatusCode::OK, &stored, &base, &params).await
}

/// PATCH answers 204 No Content (RFC 7644 §3.5.2 allows it; Okta and Entra ID accept it):
/// echoing a 20,000-member group after every membership change would cost more than the
/// change. The new `ETag` comes along, for the next `If-Match`. A client that asks for a
/// representation with `attributes` or `excludedAttributes` gets 200 and the group.
#[tracing::instrument(name = "groups.patch", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn modify(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
    cond: Conditional,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query)?;
    let gid = parse_id(&id)?;
    let plan = members::plan(patch::parse(&body)?)?;
    let txn = state.db.begin().await?;
    let current = groups::lock(&txn, tenant.0, gid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut doc = current.doc.clone();
    patch::apply_numbered(&GROUP_RESOURCE, &mut doc, &plan.attributes)?;
    group::validate(&doc)?;
    let (stored, out) = write(&txn, tenant.0, current, doc, plan.members, &cond).await?;
    txn.commit().await?;
    state.dispatcher.send(out);
    if params.attributes.is_empty() && params.excluded_attributes.is_empty() {
        return Ok(no_content(stored.meta.etag()));
    }
    respond(&state.db, StatusCode::OK, &stored, &base, &params).await
}

/// Stores a locked group's new document (if it changed) and applies membership changes in
/// request order; returns the group as stored and the messages to dispatch after commit.
///
/// Every user an add or replace names is resolved (and locked) first, before any membership
/// row is written: a concurrent user deletion then waits for this transaction or is waited
/// for, and never deadlocks with it. The preconditions are checked after that (an unknown
/// member is a 400 whatever the version, RFC 7232 §5) and before anything is written.
async fn write(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    current: StoredGroup,
    doc: group::Doc,
    changes: Vec<Change>,
    cond: &Conditional,
) -> Result<(StoredGroup, Vec<Enqueued>), ScimError> {
    let added: Vec<String> = changes
        .iter()
        .flat_map(|c| match c {
            Change::Add(ids) | Change::Replace(ids) => ids.as_slice(),
            _ => &[],
        })
        .cloned()
        .collect();
    // Every id of an add or replace is now known to be a live user (or this failed).
    let added_users = memberships::resolve_users(txn, tenant, &added).await?;
    cond.check_write(&current.meta.etag())?;
    let gid = current.meta.id;
    let mut out = Vec::new();
    let updated = groups::update(txn, tenant, &current, doc).await?;
    let doc_changed = updated.is_some();
    let mut stored = match updated {
        Some((stored, queued)) => {
            tracing::info!(version = stored.meta.version, "group updated");
            out.push(queued);
            stored
        }
        None => current,
    };
    let before = out.len();
    // Only filtered removals need to see the membership; it is read once, and kept as each
    // operation leaves it.
    let mut roster = if changes.iter().any(|c| matches!(c, Change::RemoveMatching(_))) {
        Some(memberships::Roster::load(txn, gid, &added_users).await?)
    } else {
        None
    };
    let mut changes = changes.into_iter().peekable();
    while let Some(change) = changes.next() {
        let written = match change {
            Change::Add(ids) => {
                let ids = memberships::uuids(&ids);
                roster.iter_mut().for_each(|r| r.add(&ids));
                memberships::add(txn, tenant, gid, &ids).await?
            }
            Change::Remove(ids) => {
                let ids = memberships::uuids(&ids);
                roster.iter_mut().for_each(|r| r.remove(&ids));
                memberships::remove(txn, tenant, gid, &ids).await?
            }
            Change::RemoveMatching(f) => {
                // A run of filtered removals is one look at the roster and one statement.
                let mut filters = vec![f];
                while let Some(Change::RemoveMatching(_)) = changes.peek() {
                    if let Some(Change::RemoveMatching(f)) = changes.next() {
                        filters.push(f);
                    }
                }
                let ids = roster
                    .as_ref()
                    .map(|r| r.matching_any(&filters))
                    .unwrap_or_default();
                roster.iter_mut().for_each(|r| r.remove(&ids));
                memberships::remove(txn, tenant, gid, &ids).await?
            }
            Change::RemoveAll => {
                roster.iter_mut().for_each(|r| r.replace(&[]));
                memberships::remove_all_except(txn, tenant, gid, &[]).await?
            }
            Change::Replace(ids) => {
                let ids = memberships::uuids(&ids);
                roster.iter_mut().for_each(|r| r.replace(&ids));
                let mut w = memberships::remove_all_except(txn, tenant, gid, &ids).await?;
                w.extend(memberships::add(txn, tenant, gid, &ids).await?);
                w
            }
        };
        out.extend(written);
    }
    let member_changes = out.len() - before;
    if member_changes > 0 {
        tracing::info!(changes = member_changes, "group membership changed");
        if !doc_changed {
            stored = groups::touch(txn, tenant, gid).await?;
        }
    }
    Ok((stored, out))
}

#[tracing::instrument(name = "groups.delete", skip_all, fields(tenant_id = %tenant.0, scim_id = %id))]
async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    cond: Conditional,
) -> Result<Response, ScimError> {
    let gid = parse_id(&id)?;
    let txn = state.db.begin().await?;
    let current = groups::lock(&txn, tenant.0, gid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    cond.check_write(&current.meta.etag())?;
    let queued = groups::delete(&txn, tenant.0, &current).await?;
    txn.commit().await?;
    tracing::info!("group deleted");
    state.dispatcher.send([queued]);
    Ok(StatusCode::NO_CONTENT.into_response())
}
