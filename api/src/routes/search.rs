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
use axum::response::Response;
use axum::routing::{get, post};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tracing::Instrument;

use super::groups::Group;
use super::resource::{Resource, list_answer, page_query};
use super::users::User;
use crate::directory::bounded::BoundedRead;
use crate::directory::{Query, Scope};
use crate::error::ScimError;
use crate::extract::{BaseUrl, Listing, Tenant};
use crate::scim::list::ListParams;
use crate::scim::schema::{GROUP_RESOURCE, user_resource};
use crate::scim::{filter, search};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.search", post(respond))
        .route("/", get(respond))
}

async fn respond(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Listing { params, searched }: Listing,
) -> Result<Response, ScimError> {
    let span = if searched {
        tracing::info_span!("root.search", tenant_id = %tenant.0)
    } else {
        tracing::info_span!("root.query", tenant_id = %tenant.0)
    };
    async {
        let parsed = params.filter.as_deref().map(filter::parse).transpose()?;
        search::check_attributes(
            parsed.as_ref(),
            params.sort.as_ref(),
            &[user_resource(), &GROUP_RESOURCE],
        )?;
        let q = page_query(&params, parsed.as_ref(), Scope::AllTypes)?;
        // Four statements (two counts, two pages) must see one state of the directory, or the
        // totals and the pages could disagree: one repeatable-read transaction, bounded in time.
        let read = BoundedRead::begin(&state, tenant.0, state.limits.filter_timeout).await?;
        let pages = both_pages(
            read.conn(),
            tenant,
            &base,
            &params,
            q,
            state.limits.list_max_members,
        )
        .await;
        let ((user_total, mut resources), (group_total, group_page)) = read.finish(pages).await?;
        resources.extend(group_page);
        Ok(list_answer(user_total + group_total, &params, resources))
    }
    .instrument(span)
    .await
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
    let (user_total, users) = User::list_page(db, tenant.0, base, params, &q, member_budget).await?;
    let q = Query {
        offset: (q.offset - user_total).max(0),
        limit: q.limit - users.len() as i64,
        ..q
    };
    let groups = Group::list_page(db, tenant.0, base, params, &q, member_budget).await?;
    Ok(((user_total, users), groups))
}
