//! Searching at the server root (RFC 7644 §3.4.2.1, §3.4.3): `POST /.search`, and the same
//! query as `GET /` (`/scim/v2?filter=...`). Both span Users and Groups.
//!
//! Order: every matching user first, then every matching group, each type in its own `sortBy`
//! order (or creation order). A type that lacks the `sortBy` attribute has no value for
//! anyone, and lists in id order. `totalResults` is the sum of both types, and `startIndex` and
//! `count` page through that concatenation, or a cursor walks it (RFC 9865). A filter on an
//! attribute only one type has matches nothing of the other type; an attribute that neither has
//! is a 400.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use sea_orm::ConnectionTrait;
use tracing::Instrument;

use uuid::Uuid;

use super::groups::Group;
use super::resource::{ListPage, Resource, list_answer, page_query, walk};
use super::users::User;
use crate::directory::bounded::BoundedRead;
use crate::directory::{Query, Scope, Seek};
use crate::error::ScimError;
use crate::extract::{BaseUrl, Listing, Tenant};
use crate::scim::cursor::{Position, invalid_cursor};
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
        let walk = walk(&state, tenant.0, ENDPOINT, &params)?;
        let q = page_query(&params, parsed.as_ref(), Scope::AllTypes, walk.as_ref())?;
        // Four statements (two counts, two pages) must see one state of the directory, or the
        // totals and the pages could disagree: one repeatable-read transaction, bounded in time.
        let read = BoundedRead::begin(&state, tenant.0, state.limits.filter_timeout).await?;
        let pages = Both {
            db: read.conn(),
            tenant: tenant.0,
            base: &base,
            params: &params,
            member_budget: state.limits.list_max_members,
        };
        let page = match q.seek {
            None => pages.by_index(q).await,
            Some(seek) => pages.after(q, seek).await,
        };
        Ok(list_answer(&params, walk.as_ref(), read.finish(page).await?))
    }
    .instrument(span)
    .await
}

/// What a root search's cursors bind to (`scim::cursor::Binding`).
const ENDPOINT: &str = "/";

/// Users and groups, read for one page of a root search.
struct Both<'a, C> {
    db: &'a C,
    tenant: Uuid,
    base: &'a str,
    params: &'a ListParams,
    member_budget: usize,
}

impl<C: ConnectionTrait> Both<'_, C> {
    async fn page<R: Resource>(&self, q: &Query<'_>) -> Result<ListPage, ScimError> {
        R::list_page(
            self.db,
            self.tenant,
            self.base,
            self.params,
            q,
            self.member_budget,
        )
        .await
    }

    /// The users' page, then the groups' page that follows it in the concatenated order.
    async fn by_index(&self, q: Query<'_>) -> Result<ListPage, ScimError> {
        let users = self.page::<User>(&q).await?;
        let q = Query {
            offset: (q.offset - users.total).max(0),
            limit: q.limit - users.resources.len() as i64,
            ..q
        };
        let groups = self.page::<Group>(&q).await?;
        Ok(concatenated(users, groups, None))
    }

    /// A page of a cursor walk over users, then groups. A position says which type it is in
    /// (its first value, `User::ENDPOINT` or `Group::ENDPOINT`), then where in that type's
    /// order; the type with nothing after it is a position at its start.
    async fn after(&self, q: Query<'_>, seek: Seek<'_>) -> Result<ListPage, ScimError> {
        let (in_users, rest) = match seek {
            Seek::Start => (true, &[][..]),
            Seek::After(position) => match position.split_first() {
                Some((Some(t), rest)) if t == User::ENDPOINT => (true, rest),
                Some((Some(t), rest)) if t == Group::ENDPOINT => (false, rest),
                _ => return Err(invalid_cursor().into()),
            },
        };
        // Just the count of a type the page does not reach.
        let counted = Query {
            seek: None,
            limit: 0,
            ..q
        };
        let typed = |t: &str, next: Option<Position>| {
            next.map(|p| std::iter::once(Some(t.to_owned())).chain(p).collect())
        };
        if !in_users {
            let users = self.page::<User>(&counted).await?;
            let groups = self
                .page::<Group>(&Query {
                    seek: Some(resume(rest)),
                    ..q
                })
                .await?;
            let next = typed(Group::ENDPOINT, groups.next.clone());
            return Ok(concatenated(users, groups, next));
        }
        let users = self
            .page::<User>(&Query {
                seek: Some(resume(rest)),
                ..q
            })
            .await?;
        if users.next.is_some() {
            let groups = self.page::<Group>(&counted).await?;
            let next = typed(User::ENDPOINT, users.next.clone());
            return Ok(concatenated(users, groups, next));
        }
        // The users end on this page: groups fill the rest of it, and when none fit, one is
        // still looked for, so that the page has a nextCursor exactly when resources follow.
        let room = q.limit - users.resources.len() as i64;
        let groups = self
            .page::<Group>(&Query {
                seek: Some(Seek::Start),
                limit: room,
                ..q
            })
            .await?;
        let next = typed(Group::ENDPOINT, groups.next.clone());
        Ok(concatenated(users, groups, next))
    }
}

/// Where a type's part of a position resumes: nothing means its start.
fn resume(rest: &[Option<String>]) -> Seek<'_> {
    match rest {
        [] => Seek::Start,
        rest => Seek::After(rest),
    }
}

fn concatenated(users: ListPage, groups: ListPage, next: Option<Position>) -> ListPage {
    let mut resources = users.resources;
    resources.extend(groups.resources);
    ListPage {
        total: users.total + groups.total,
        resources,
        next,
    }
}
