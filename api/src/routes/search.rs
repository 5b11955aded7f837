//! Searching at the server root (RFC 7644 §3.4.2.1, §3.4.3): `POST /.search`, and the same
//! query as `GET /` (`/scim/v2?filter=...`). Both span Users and Groups.
//!
//! Order: every matching user first, then every matching group, each type in its own `sortBy`
//! order (or creation order). A type that lacks the `sortBy` attribute has no value for
//! anyone, and lists in id order. `totalResults` is the sum of both types, and `startIndex` and
//! `count` page through that concatenation. A filter on an attribute only one type has matches
//! nothing of the other type; an attribute that neither has is a 400.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{groups, scim_json, users};
use crate::directory::bounded::BoundedRead;
use crate::directory::{Query, Scope};
use crate::error::ScimError;
use crate::extract::{BaseUrl, ScimBody, ScimQuery, Tenant};
use crate::scim::list::{ListParams, list_response};
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use crate::scim::{filter, search};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.search", post(search_post))
        .route("/", get(search_get))
}

#[tracing::instrument(name = "root.search", skip_all, fields(tenant_id = %tenant.0))]
async fn search_post(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    respond(&state, tenant, &base, &ListParams::from_search_request(&body)?).await
}

#[tracing::instrument(name = "root.query", skip_all, fields(tenant_id = %tenant.0))]
async fn search_get(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    ScimQuery(query): ScimQuery,
) -> Result<Response, ScimError> {
    respond(&state, tenant, &base, &ListParams::from_query(&query)?).await
}

async fn respond(
    state: &AppState,
    tenant: Tenant,
    base: &str,
    params: &ListParams,
) -> Result<Response, ScimError> {
    let parsed = params.filter.as_deref().map(filter::parse).transpose()?;
    search::check_attributes(
        parsed.as_ref(),
        params.sort.as_ref(),
        &[&USER_RESOURCE, &GROUP_RESOURCE],
    )?;
    let q = Query {
        filter: parsed.as_ref(),
        sort: params.sort.as_ref(),
        scope: Scope::AllTypes,
        offset: params.offset(),
        limit: params.count,
    };
    q.check_cost()?;
    // Four statements (two counts, two pages) must see one state of the directory, or the
    // totals and the pages could disagree: one repeatable-read transaction, bounded in time.
    let read = BoundedRead::begin(state, tenant.0, state.limits.filter_timeout).await?;
    let pages = both_pages(
        read.conn(),
        tenant,
        base,
        params,
        q,
        state.limits.list_max_members,
    )
    .await;
    let ((user_total, mut resources), (group_total, group_page)) = read.finish(pages).await?;
    resources.extend(group_page);
    Ok(scim_json(
        StatusCode::OK,
        &list_response(user_total + group_total, params.start_index, resources),
        None,
        None,
    ))
}

/// The users' page, then the groups' page that follows it in the concatenated order.
async fn both_pages(
    db: &impl ConnectionTrait,
    tenant: Tenant,
    base: &str,
    params: &ListParams,
    q: Query<'_>,
    member_budget: usize,
) -> Result<((i64, Vec<Value>), (i64, Vec<Value>)), ScimError> {
    let (user_total, users) = users::list_page(db, tenant.0, base, params, &q).await?;
    let q = Query {
        offset: (q.offset - user_total).max(0),
        limit: q.limit - users.len() as i64,
        ..q
    };
    let groups = groups::list_page(db, tenant.0, base, params, &q, member_budget).await?;
    Ok(((user_total, users), groups))
}
