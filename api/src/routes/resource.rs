//! The route flow every SCIM resource type shares: list and `.search`, create, read, replace
//! (PUT), modify (PATCH) and delete; the ETag preconditions; the handler spans; and the hand-off
//! of a committed write's messages to the outbox dispatcher. What differs between Users and
//! Groups (parsing and checking a body, applying a PATCH, the directory's statements, how a
//! resource renders, what a write logs) is behind [`Resource`].

use std::future::Future;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde_json::Value;
use tracing::{Instrument, Span};
use uuid::Uuid;

use super::asynchronous::{self, Prefer};
use super::{no_content, not_modified, scim_json};
use crate::directory::bounded::BoundedRead;
use crate::directory::user_batch::Creates;
use crate::directory::{Query, Scope, Seek};
use crate::error::ScimError;
use crate::events::Recorded;
use crate::extract::{BaseUrl, Conditional, Listing, ScimBody, ScimQuery, Tenant};
use crate::outbox::Enqueued;
use crate::scim::cursor::{Binding, Position, Walk};
use crate::scim::filter::{self, Filter};
use crate::scim::list::{ListParams, cursor_list_response, list_response};
use crate::scim::meta::Meta;
use crate::state::AppState;

/// A handler, for its span (see [`handler_spans`]); the id is the one in the path.
pub(super) enum Op<'a> {
    List,
    Search,
    Create,
    Read(&'a str),
    Replace(&'a str),
    Patch(&'a str),
    Delete(&'a str),
}

/// A PUT or PATCH body, parsed before anything is locked.
pub(super) enum Edit<R: Resource> {
    Replace(R::Replacement),
    Patch(R::Patch),
}

/// What [`Resource::edit_at_once`] did.
pub(super) enum AtOnce<R: Resource> {
    /// Stored (or nothing to store): the resource as it is now, the messages to dispatch, and
    /// whether an event row was written.
    Stored(R::Stored, Vec<Enqueued>, bool),
    /// The resource moved on since it was read: nothing was written; read it again.
    Moved,
    /// This edit needs the transaction (or the resource type has no other way).
    NeedsTransaction,
}

/// A committed write, for [`Resource::committed`].
pub(super) enum Write {
    Created,
    Updated,
    Deleted,
}

/// What a write's change event needs besides the write itself.
#[derive(Clone, Copy)]
pub(super) struct EventContext<'a> {
    /// RFC 9967 `txn`.
    pub txn: Uuid,
    /// The SCIM base URL, for `data`'s `meta.location` and references.
    pub base: &'a str,
}

/// Where a create runs: the pool, or a transaction it nests in.
pub(super) trait Connection:
    ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Sync
{
}

impl<C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Sync> Connection for C {}

/// One SCIM resource type as the shared route flow needs it.
pub(super) trait Resource: Sized + Send + Sync + 'static {
    /// A resource as the directory returns it.
    type Stored: Send + Sync + Clone;
    /// A PUT body, parsed and checked on its own.
    type Replacement: Send;
    /// A PATCH body, parsed.
    type Patch: Send;
    /// What a PUT or PATCH stores, derived from the locked current version.
    type Change: Send;
    /// What a write's query string may say about the response. `()` where writes ignore the
    /// query string (a malformed one is then no error either).
    type WriteQuery: FromRequestParts<AppState, Rejection: IntoResponse> + Send;

    /// `Location`s are under `/{ENDPOINT}`; the routes, declared in the resource's module, too.
    const ENDPOINT: &'static str;
    /// The resource type's name (`meta.resourceType`).
    const TYPE: &'static str;
    /// One resource, in error details.
    const NOUN: &'static str;
    /// Attributes whose `eq` is one index lookup; lists filtered otherwise run bounded.
    const KEYS: &'static [&'static str];

    /// The span a handler runs in; written by [`handler_spans`].
    fn span(op: Op<'_>, tenant: Uuid) -> Span;

    fn meta(stored: &Self::Stored) -> &Meta;

    /// The projection a write's response follows, if the resource type reads one.
    fn write_params(query: Self::WriteQuery) -> Result<Option<ListParams>, ScimError>;

    fn get(
        db: &DatabaseConnection,
        tenant: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self::Stored>, DbErr>> + Send;

    /// Reads and locks a live resource for the rest of the transaction.
    fn lock(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self::Stored>, DbErr>> + Send;

    /// Whether a list needs the bounded read even when its filter is a key lookup.
    fn list_is_heavy(_params: &ListParams) -> bool {
        false
    }

    /// One page as lists show it, how many match in all, and where a cursor walk goes on.
    /// `member_budget` bounds the group members a page may carry
    /// (`state::Limits::list_max_members`).
    fn list_page(
        db: &impl ConnectionTrait,
        tenant: Uuid,
        base: &str,
        params: &ListParams,
        q: &Query<'_>,
        member_budget: usize,
    ) -> impl Future<Output = Result<ListPage, ScimError>> + Send;

    /// One resource as a response shows it: whole, or projected by `params`.
    fn render(
        db: &DatabaseConnection,
        tenant: Uuid,
        base: &str,
        stored: &Self::Stored,
        params: Option<&ListParams>,
    ) -> impl Future<Output = Result<Value, ScimError>> + Send;

    /// One live resource as a GET shows it (`None`: no such resource). Resource types whose
    /// rendering reads other tables may read them in the same statement as the resource.
    fn read(
        db: &DatabaseConnection,
        tenant: Uuid,
        base: &str,
        id: Uuid,
        params: &ListParams,
    ) -> impl Future<Output = Result<Option<(Self::Stored, Value)>, ScimError>> + Send {
        async move {
            let Some(stored) = Self::get(db, tenant, id).await? else {
                return Ok(None);
            };
            let body = Self::render(db, tenant, base, &stored, Some(params)).await?;
            Ok(Some((stored, body)))
        }
    }

    /// A resource just created, as the 201 shows it.
    fn render_new(
        db: &DatabaseConnection,
        tenant: Uuid,
        base: &str,
        stored: &Self::Stored,
        params: Option<&ListParams>,
    ) -> impl Future<Output = Result<Value, ScimError>> + Send {
        Self::render(db, tenant, base, stored, params)
    }

    /// Creates the resource with its messages and, for a tenant with event streams, its event
    /// row (the `bool`: whether one was written), all committed together; returns it and the
    /// messages to dispatch once committed. `db` is the pool, or the transaction of an
    /// asynchronous request that records itself beside the create; `creates`, on the pool, the
    /// group commit the create may join.
    fn create<C: Connection>(
        db: &C,
        creates: Option<&Creates>,
        tenant: Uuid,
        body: &Value,
        ev: EventContext<'_>,
    ) -> impl Future<Output = Result<(Self::Stored, Vec<Enqueued>, bool), ScimError>> + Send;

    fn parse_replacement(body: &Value) -> Result<Self::Replacement, ScimError>;

    fn parse_patch(body: &Value) -> Result<Self::Patch, ScimError>;

    /// The change an edit makes to the locked `current`, with every check that can refuse it:
    /// a refused change is a 400 before any precondition is looked at (RFC 7232 §5).
    fn change(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &Self::Stored,
        edit: Edit<Self>,
    ) -> impl Future<Output = Result<Self::Change, ScimError>> + Send;

    /// Stores a change of the locked `current` (nothing when it changes nothing); returns the
    /// resource as stored and the messages to dispatch once committed.
    fn store(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: Self::Stored,
        change: Self::Change,
    ) -> impl Future<Output = Result<(Self::Stored, Vec<Enqueued>), ScimError>> + Send;

    /// A PUT or PATCH of `current`, read without a lock, stored without a transaction if the
    /// resource type can: the change derived and checked as [`Resource::change`] does, the
    /// preconditions checked against `current`, and the result stored only if the resource is
    /// still at `current`'s version. Groups cannot (their member checks need the transaction).
    fn edit_at_once(
        _db: &DatabaseConnection,
        _tenant: Uuid,
        _current: &Self::Stored,
        _edit: &Edit<Self>,
        _cond: &Conditional,
        _ev: (&'static str, EventContext<'_>),
    ) -> impl Future<Output = Result<AtOnce<Self>, ScimError>> + Send {
        async { Ok(AtOnce::NeedsTransaction) }
    }

    /// Deletes the locked `current`; returns the messages to dispatch once committed.
    fn delete(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &Self::Stored,
    ) -> impl Future<Output = Result<Vec<Enqueued>, ScimError>> + Send;

    /// Whether a PATCH answers 204 No Content rather than the resource.
    fn patch_answers_no_content(_params: Option<&ListParams>) -> bool {
        false
    }

    /// Logs what a committed write did; `out` is what it dispatches.
    fn committed(write: Write, stored: &Self::Stored, out: &[Enqueued]);

    /// The change event of a PUT, PATCH or DELETE that changed something (`out` may be empty
    /// when the deprovisioning guard holds what it sends):
    /// `before` is the version it changed, `after` the stored result (for a delete, the same).
    fn event(
        method: &'static str,
        before: &Self::Stored,
        after: &Self::Stored,
        out: &[Enqueued],
        ev: EventContext<'_>,
    ) -> Recorded;
}

/// Writes the change event of an update in its transaction; whether a row was written. A write
/// that changed nothing has no event; one whose messages the deprovisioning guard holds (`out`
/// empty) has, since the directory changed.
async fn record_event<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    method: &'static str,
    before: &R::Stored,
    after: &R::Stored,
    out: &[Enqueued],
    ctx: EventContext<'_>,
) -> Result<bool, ScimError> {
    let changed = method == "DELETE" || R::meta(before).etag() != R::meta(after).etag();
    if out.is_empty() && !changed {
        return Ok(false);
    }
    let ev = R::event(method, before, after, out, ctx);
    Ok(crate::events::log::record(txn, tenant, &ev).await?)
}

/// Writes [`Resource::span`] for a resource type whose handler spans are named `{prefix}.list`,
/// `{prefix}.read`, ... (span names are static, so each type needs its own).
macro_rules! handler_spans {
    ($prefix:literal) => {
        fn span(op: $crate::routes::resource::Op<'_>, tenant: ::uuid::Uuid) -> ::tracing::Span {
            use $crate::routes::resource::Op;
            use ::tracing::{field, info_span};
            match op {
                Op::List => info_span!(concat!($prefix, ".list"), tenant_id = %tenant),
                Op::Search => info_span!(concat!($prefix, ".search"), tenant_id = %tenant),
                Op::Create => {
                    info_span!(concat!($prefix, ".create"), tenant_id = %tenant, scim_id = field::Empty)
                }
                Op::Read(id) => info_span!(concat!($prefix, ".read"), tenant_id = %tenant, scim_id = %id),
                Op::Replace(id) => {
                    info_span!(concat!($prefix, ".replace"), tenant_id = %tenant, scim_id = %id)
                }
                Op::Patch(id) => info_span!(concat!($prefix, ".patch"), tenant_id = %tenant, scim_id = %id),
                Op::Delete(id) => info_span!(concat!($prefix, ".delete"), tenant_id = %tenant, scim_id = %id),
            }
        }
    };
}
pub(super) use handler_spans;

/// A page as a list answers it.
pub(super) struct ListPage {
    /// How many resources the whole list has.
    pub total: i64,
    pub resources: Vec<Value>,
    /// With a cursor: the position of the last resource answered, when more follow.
    pub next: Option<Position>,
}

/// The cursor walk a list asks for (RFC 9865), if it pages by cursor: its cursor checked
/// against the query it names (`endpoint` names the result set, as [`Binding::new`] says).
pub(super) fn walk(
    state: &AppState,
    tenant: Uuid,
    endpoint: &str,
    params: &ListParams,
) -> Result<Option<Walk>, ScimError> {
    let Some(token) = params.cursor.as_deref() else {
        return Ok(None);
    };
    let binding = Binding::new(tenant, endpoint, params.filter.as_deref(), params.sort.as_ref());
    let timeout = state.limits.cursor_timeout.as_secs();
    Ok(Some(Walk::begin(token, binding, now(), timeout)?))
}

/// Unix time, which cursors are issued and checked at.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The page a list asks for, by index or after a cursor's position; refused when its filter
/// asks for more work than a request may cause.
pub(super) fn page_query<'a>(
    params: &'a ListParams,
    filter: Option<&'a Filter>,
    scope: Scope,
    walk: Option<&'a Walk>,
) -> Result<Query<'a>, ScimError> {
    let q = Query {
        filter,
        sort: params.sort.as_ref(),
        scope,
        offset: params.offset(),
        limit: params.count,
        seek: walk.map(|w| w.position.as_deref().map_or(Seek::Start, Seek::After)),
    };
    q.check_cost()?;
    Ok(q)
}

/// The ListResponse of a page: by index, or a cursor walk's with its `nextCursor`.
pub(super) fn list_answer(params: &ListParams, walk: Option<&Walk>, page: ListPage) -> Response {
    let body = match walk {
        None => list_response(page.total, params.start_index, page.resources),
        Some(walk) => cursor_list_response(
            page.total,
            page.resources,
            page.next.map(|p| walk.next(&p, now())),
        ),
    };
    scim_json(StatusCode::OK, &body, None, None)
}

/// `GET /{ENDPOINT}` and `POST /{ENDPOINT}/.search` (RFC 7644 §3.4.3, a list whose parameters
/// travel in the body, so that filters stay out of URLs and logs; it answers 200, as a list
/// does). A read that may cover many rows runs bounded in time; a key lookup on the pool.
pub(super) async fn list<R: Resource>(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Listing { params, searched }: Listing,
) -> Result<Response, ScimError> {
    let span = R::span(if searched { Op::Search } else { Op::List }, tenant.0);
    async {
        let parsed = params.filter.as_deref().map(filter::parse).transpose()?;
        let walk = walk(&state, tenant.0, R::ENDPOINT, &params)?;
        let q = page_query(&params, parsed.as_ref(), Scope::OneType, walk.as_ref())?;
        let budget = state.limits.list_max_members;
        let page = if q.is_expensive(R::KEYS) || R::list_is_heavy(&params) {
            let read = BoundedRead::begin(&state, tenant.0, state.limits.filter_timeout).await?;
            let page = R::list_page(read.conn(), tenant.0, &base, &params, &q, budget).await;
            read.finish(page).await?
        } else {
            R::list_page(&state.db, tenant.0, &base, &params, &q, budget).await?
        };
        Ok(list_answer(&params, walk.as_ref(), page))
    }
    .instrument(span)
    .await
}

pub(super) async fn create<R: Resource>(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    prefer: Prefer,
    query: R::WriteQuery,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    async {
        let params = R::write_params(query)?;
        let ctx = EventContext {
            txn: Uuid::now_v7(),
            base: &base,
        };
        let asynchronous = prefer.asynchronous(ctx.txn);
        let (stored, out, evented) = match asynchronous {
            Some(_) => asynchronous::create::<R>(&state.db, tenant.0, &body, ctx).await?,
            None => R::create(&state.db, state.creates.as_ref(), tenant.0, &body, ctx).await?,
        };
        Span::current().record("scim_id", tracing::field::display(R::meta(&stored).id));
        R::committed(Write::Created, &stored, &out);
        state.dispatcher.send(out);
        if evented {
            state.events.signals.committed();
        }
        if let Some(txn) = asynchronous
            && !asynchronous::done_within(&state, tenant.0, txn, prefer.wait).await?
        {
            return Ok(asynchronous::accepted(txn, &base));
        }
        let body = R::render_new(&state.db, tenant.0, &base, &stored, params.as_ref()).await?;
        Ok(located::<R>(StatusCode::CREATED, &body, &stored, &base))
    }
    .instrument(R::span(Op::Create, tenant.0))
    .await
}

pub(super) async fn read<R: Resource>(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    ScimQuery(query): ScimQuery,
    cond: Conditional,
) -> Result<Response, ScimError> {
    async {
        let params = ListParams::from_query(&query)?;
        let (stored, body) = R::read(&state.db, tenant.0, &base, parse_id::<R>(&id)?, &params)
            .await?
            .ok_or_else(|| not_found::<R>(&id))?;
        let etag = R::meta(&stored).etag();
        if cond.check_read(&etag)? {
            return Ok(not_modified(etag));
        }
        Ok(located::<R>(StatusCode::OK, &body, &stored, &base))
    }
    .instrument(R::span(Op::Read(&id), tenant.0))
    .await
}

/// PUT replaces the resource, PATCH modifies it. The resource is locked, the change derived from
/// the current version and checked, then the preconditions are checked against the locked
/// version, and the change is stored; its messages are dispatched after commit. Every write
/// answers asynchronously when asked (see [`asynchronous`]).
#[expect(
    clippy::too_many_arguments,
    reason = "one per extractor; their order decides which of several errors a request gets"
)]
pub(super) async fn edit<R: Resource>(
    State(state): State<AppState>,
    method: Method,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    prefer: Prefer,
    query: R::WriteQuery,
    cond: Conditional,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let patch = method == Method::PATCH;
    let span = R::span(if patch { Op::Patch(&id) } else { Op::Replace(&id) }, tenant.0);
    async {
        let params = R::write_params(query)?;
        let uid = parse_id::<R>(&id)?;
        let edit = if patch {
            Edit::Patch(R::parse_patch(&body)?)
        } else {
            Edit::Replace(R::parse_replacement(&body)?)
        };
        let ctx = EventContext {
            txn: Uuid::now_v7(),
            base: &base,
        };
        let method = if patch { "PATCH" } else { "PUT" };
        let asynchronous = prefer.asynchronous(ctx.txn);
        let at_once = match asynchronous {
            // An asynchronous request records itself in the transaction of its write.
            Some(_) => None,
            None => edit_at_once::<R>(&state.db, tenant.0, uid, &id, &edit, &cond, (method, ctx)).await?,
        };
        let (stored, out, evented) = match at_once {
            Some(done) => done,
            None => {
                let txn = state.db.begin().await?;
                let current = locked::<R>(&txn, tenant.0, uid, &id).await?;
                let change = R::change(&txn, tenant.0, &current, edit).await?;
                cond.check_write(&R::meta(&current).etag())?;
                let before = current.clone();
                let (stored, out) =
                    asynchronous::scoped(asynchronous, R::store(&txn, tenant.0, current, change)).await?;
                let evented = record_event::<R>(&txn, tenant.0, method, &before, &stored, &out, ctx).await?;
                if let Some(id) = asynchronous {
                    asynchronous::open::<R>(&txn, tenant.0, id, method, &stored, &out).await?;
                }
                txn.commit().await?;
                (stored, out, evented)
            }
        };
        R::committed(Write::Updated, &stored, &out);
        state.dispatcher.send(out);
        if evented {
            state.events.signals.committed();
        }
        if let Some(txn) = asynchronous
            && !asynchronous::done_within(&state, tenant.0, txn, prefer.wait).await?
        {
            return Ok(asynchronous::accepted(txn, &base));
        }
        if patch && R::patch_answers_no_content(params.as_ref()) {
            return Ok(no_content(R::meta(&stored).etag()));
        }
        respond::<R>(
            &state.db,
            tenant.0,
            StatusCode::OK,
            &stored,
            &base,
            params.as_ref(),
        )
        .await
    }
    .instrument(span)
    .await
}

pub(super) async fn remove<R: Resource>(
    State(state): State<AppState>,
    tenant: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    prefer: Prefer,
    cond: Conditional,
) -> Result<Response, ScimError> {
    async {
        let uid = parse_id::<R>(&id)?;
        let txn = state.db.begin().await?;
        let current = locked::<R>(&txn, tenant.0, uid, &id).await?;
        cond.check_write(&R::meta(&current).etag())?;
        let ctx = EventContext {
            txn: Uuid::now_v7(),
            base: &base,
        };
        let asynchronous = prefer.asynchronous(ctx.txn);
        let out = asynchronous::scoped(asynchronous, R::delete(&txn, tenant.0, &current)).await?;
        let evented = record_event::<R>(&txn, tenant.0, "DELETE", &current, &current, &out, ctx).await?;
        if let Some(id) = asynchronous {
            asynchronous::open::<R>(&txn, tenant.0, id, "DELETE", &current, &out).await?;
        }
        txn.commit().await?;
        R::committed(Write::Deleted, &current, &out);
        state.dispatcher.send(out);
        if evented {
            state.events.signals.committed();
        }
        if let Some(txn) = asynchronous
            && !asynchronous::done_within(&state, tenant.0, txn, prefer.wait).await?
        {
            return Ok(asynchronous::accepted(txn, &base));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .instrument(R::span(Op::Delete(&id), tenant.0))
    .await
}

/// How often a PUT or PATCH re-reads a resource that moved on under it before it takes the
/// row lock instead (which queues it behind the other writers rather than racing them).
const AT_ONCE_ATTEMPTS: usize = 3;

/// [`Resource::edit_at_once`], read again while the resource moves on under it; `None` when the
/// edit takes the transaction after all.
async fn edit_at_once<R: Resource>(
    db: &DatabaseConnection,
    tenant: Uuid,
    uid: Uuid,
    id: &str,
    edit: &Edit<R>,
    cond: &Conditional,
    ev: (&'static str, EventContext<'_>),
) -> Result<Option<(R::Stored, Vec<Enqueued>, bool)>, ScimError> {
    for _ in 0..AT_ONCE_ATTEMPTS {
        let current = R::get(db, tenant, uid).await?.ok_or_else(|| not_found::<R>(id))?;
        match R::edit_at_once(db, tenant, &current, edit, cond, ev).await? {
            AtOnce::Stored(stored, out, evented) => return Ok(Some((stored, out, evented))),
            AtOnce::Moved => {
                metrics::counter!("scim_write_conflicts_total", "resource" => R::TYPE).increment(1)
            }
            AtOnce::NeedsTransaction => return Ok(None),
        }
    }
    Ok(None)
}

async fn locked<R: Resource>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    uid: Uuid,
    id: &str,
) -> Result<R::Stored, ScimError> {
    R::lock(txn, tenant, uid).await?.ok_or_else(|| not_found::<R>(id))
}

async fn respond<R: Resource>(
    db: &DatabaseConnection,
    tenant: Uuid,
    status: StatusCode,
    stored: &R::Stored,
    base: &str,
    params: Option<&ListParams>,
) -> Result<Response, ScimError> {
    let body = R::render(db, tenant, base, stored, params).await?;
    Ok(located::<R>(status, &body, stored, base))
}

/// A resource's response, with its `ETag` and `Location`.
fn located<R: Resource>(status: StatusCode, body: &Value, stored: &R::Stored, base: &str) -> Response {
    let meta = R::meta(stored);
    let location = format!("{base}/{}/{}", R::ENDPOINT, meta.id);
    scim_json(status, body, Some(meta.etag()), Some(location))
}

/// Ids are UUIDs; anything else cannot name a resource, so it is simply not found.
fn parse_id<R: Resource>(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| not_found::<R>(id))
}

fn not_found<R: Resource>(id: &str) -> ScimError {
    ScimError::not_found(format!("no {} with id '{id}' in this tenant", R::NOUN))
}
