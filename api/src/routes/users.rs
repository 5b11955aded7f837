//! `/Users`: the endpoints Okta and Entra ID provision through. The route flow is
//! `resource`'s; this is what is particular to users: their read-only `groups`, and a delete
//! that takes the user out of its groups.

use std::collections::HashMap;

use axum::Router;
use axum::routing::{get, post};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use serde_json::Value;
use uuid::Uuid;

use super::resource::{
    self, AtOnce, Connection, Edit, EventContext, ListPage, Resource, Write, handler_spans,
};
use crate::access;
use crate::directory::user_batch::Creates;
use crate::directory::users::{self, StoredUser};
use crate::directory::{Query, USER_KEYS, memberships};
use crate::error::ScimError;
use crate::events::Recorded;
use crate::extract::Conditional;
use crate::outbox::Enqueued;
use crate::scim::list::{ListParams, project, requested};
use crate::scim::meta::Meta;
use crate::scim::patch::{self, PatchOp};
use crate::scim::resource::normalize;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, user_resource};
use crate::scim::user;
use crate::state::AppState;

pub(super) struct User;

// The table is spelled out (not built from `Resource::ENDPOINT`) so the tenancy tests can read
// every route the api declares from the source.
pub fn router() -> Router<AppState> {
    use resource::{create, edit, list, read, remove};
    Router::new()
        .route("/Users", get(list::<User>).post(create::<User>))
        .route("/Users/.search", post(list::<User>))
        .route(
            "/Users/{id}",
            get(read::<User>)
                .put(edit::<User>)
                .patch(edit::<User>)
                .delete(remove::<User>),
        )
}

impl Resource for User {
    type Stored = StoredUser;
    type Replacement = user::Doc;
    type Patch = Vec<PatchOp>;
    type Change = user::Doc;
    /// Writes answer with the whole user, whatever the query string says.
    type WriteQuery = ();

    const ENDPOINT: &'static str = "Users";
    const TYPE: &'static str = "User";
    const NOUN: &'static str = "user";
    const KEYS: &'static [&'static str] = USER_KEYS;

    handler_spans!("users");

    fn meta(stored: &StoredUser) -> &Meta {
        &stored.meta
    }

    fn write_params((): ()) -> Result<Option<ListParams>, ScimError> {
        Ok(None)
    }

    async fn get(db: &DatabaseConnection, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
        users::get(db, tenant, id).await
    }

    async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredUser>, DbErr> {
        users::lock(txn, tenant, id).await
    }

    async fn list_page(
        db: &impl ConnectionTrait,
        tenant: Uuid,
        base: &str,
        params: &ListParams,
        q: &Query<'_>,
        _member_budget: usize,
    ) -> Result<ListPage, ScimError> {
        let with_groups = requested("groups", &params.attributes, &params.excluded_attributes, true);
        let page = users::list(db, tenant, q, with_groups).await?;
        let resources = render(db, tenant, base, &page.users, page.groups, Some(params)).await?;
        Ok(ListPage {
            total: page.total,
            next: page.rest.after(resources.len()),
            resources,
        })
    }

    async fn render(
        db: &DatabaseConnection,
        tenant: Uuid,
        base: &str,
        stored: &StoredUser,
        params: Option<&ListParams>,
    ) -> Result<Value, ScimError> {
        let mut all = render(db, tenant, base, std::slice::from_ref(stored), None, params).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// The user and its groups in one statement.
    async fn read(
        db: &DatabaseConnection,
        tenant: Uuid,
        base: &str,
        id: Uuid,
        params: &ListParams,
    ) -> Result<Option<(StoredUser, Value)>, ScimError> {
        let (stored, read) = if requested("groups", &params.attributes, &params.excluded_attributes, true) {
            let Some((stored, groups)) = users::get_with_groups(db, tenant, id).await? else {
                return Ok(None);
            };
            (stored, Some(groups))
        } else {
            let Some(stored) = users::get(db, tenant, id).await? else {
                return Ok(None);
            };
            (stored, None)
        };
        let mut all = render(
            db,
            tenant,
            base,
            std::slice::from_ref(&stored),
            read,
            Some(params),
        )
        .await?;
        Ok(Some((stored, all.pop().unwrap_or_default())))
    }

    /// A new user is in no group yet: no need to look.
    async fn render_new(
        _db: &DatabaseConnection,
        _tenant: Uuid,
        base: &str,
        stored: &StoredUser,
        _params: Option<&ListParams>,
    ) -> Result<Value, ScimError> {
        Ok(user::render(&stored.doc, &stored.meta, base))
    }

    async fn create<C: Connection>(
        db: &C,
        creates: Option<&Creates>,
        tenant: Uuid,
        body: &Value,
        ev: EventContext<'_>,
    ) -> Result<(StoredUser, Vec<Enqueued>, bool), ScimError> {
        let doc = normalize(user_resource(), body)?;
        user::validate(&doc, None)?;
        access::check_user(db, tenant, &doc, None).await?;
        let event = |planned: &StoredUser| event("POST", None, planned, ev);
        let (stored, queued, evented) = match creates {
            Some(creates) => users::insert_coalesced(db, creates, tenant, doc, event).await?,
            None => users::insert(db, tenant, doc, event).await?,
        };
        Ok((stored, vec![queued], evented))
    }

    fn parse_replacement(body: &Value) -> Result<user::Doc, ScimError> {
        Ok(normalize(user_resource(), body)?)
    }

    fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
        Ok(patch::parse(body)?)
    }

    async fn change(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &StoredUser,
        edit: Edit<Self>,
    ) -> Result<user::Doc, ScimError> {
        changed(txn, tenant, current, &edit).await
    }

    async fn store(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: StoredUser,
        doc: user::Doc,
    ) -> Result<(StoredUser, Vec<Enqueued>), ScimError> {
        Ok(match users::update(txn, tenant, &current, doc).await? {
            Some((stored, queued)) => (stored, queued),
            None => (current, Vec::new()),
        })
    }

    /// Every edit of an active user that leaves it active: the common write (a profile push),
    /// which the deprovisioning guard passes without looking. Deactivations, and changes of
    /// inactive users, are the guard's to weigh, in the transaction.
    async fn edit_at_once(
        db: &DatabaseConnection,
        tenant: Uuid,
        current: &StoredUser,
        edit: &Edit<Self>,
        cond: &Conditional,
        (method, ev): (&'static str, EventContext<'_>),
    ) -> Result<AtOnce<Self>, ScimError> {
        let doc = changed(db, tenant, current, edit).await?;
        cond.check_write(&current.meta.etag())?;
        if doc == current.doc {
            return Ok(AtOnce::Stored(current.clone(), Vec::new(), false));
        }
        if !(user::active(&current.doc) && user::active(&doc)) {
            return Ok(AtOnce::NeedsTransaction);
        }
        let event = |planned: &StoredUser| event(method, Some(current), planned, ev);
        Ok(
            match users::update_at_once(db, tenant, current, doc, event).await? {
                Some((stored, queued, evented)) => AtOnce::Stored(stored, vec![queued], evented),
                None => AtOnce::Moved,
            },
        )
    }

    async fn delete(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &StoredUser,
    ) -> Result<Vec<Enqueued>, ScimError> {
        // A deleted user leaves its groups in the same transaction: one removal per group.
        let left = memberships::remove_user(txn, tenant, current.meta.id).await?;
        users::delete(txn, tenant, current, left).await
    }

    fn event(
        method: &'static str,
        before: &StoredUser,
        after: &StoredUser,
        _out: &[Enqueued],
        ev: EventContext<'_>,
    ) -> Recorded {
        event(method, Some(before), after, ev)
    }

    fn committed(write: Write, stored: &StoredUser, out: &[Enqueued]) {
        match write {
            Write::Created => tracing::info!("user created"),
            Write::Updated if out.is_empty() => {}
            Write::Updated => tracing::info!(version = stored.meta.version, "user updated"),
            Write::Deleted => tracing::info!(groups_left = out.len().saturating_sub(1), "user deleted"),
        }
    }
}

/// The user an edit makes of `current`, checked against it.
async fn changed(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    current: &StoredUser,
    edit: &Edit<User>,
) -> Result<user::Doc, ScimError> {
    let doc = match edit {
        Edit::Replace(doc) => {
            let mut doc = doc.clone();
            // RFC 7644 §3.5.1: a readWrite attribute a PUT omits "MAY be assumed to be not
            // asserted". For `active` that is the only safe reading: a PUT of a profile
            // without it (OneLogin's templates have none) must not reactivate a user the
            // IdP deactivated, as the default of true would.
            if !doc.contains_key("active")
                && let Some(active) = current.doc.get("active")
            {
                doc.insert("active".into(), active.clone());
            }
            doc
        }
        Edit::Patch(ops) => {
            let mut doc = current.doc.clone();
            patch::apply(user_resource(), &mut doc, ops)?;
            doc
        }
    };
    // Checked against the user it replaces (see `user::validate`).
    user::validate(&doc, Some(&current.doc))?;
    access::check_user(db, tenant, &doc, Some(&current.doc)).await?;
    Ok(doc)
}

/// A user's change as its SETs tell it: the user as it is now (without its read-only `groups`,
/// which group events tell), the attributes that changed, and an activation when `active`
/// flipped.
fn event(
    method: &'static str,
    before: Option<&StoredUser>,
    after: &StoredUser,
    ev: EventContext<'_>,
) -> Recorded {
    let deleted = method == "DELETE";
    let now_active = user::active(&after.doc);
    let activation = match before {
        Some(b) if !deleted && user::active(&b.doc) != now_active => Some(now_active),
        _ => None,
    };
    Recorded {
        txn: ev.txn,
        resource_type: "User",
        resource_id: after.meta.id,
        external_id: user::external_id(&after.doc).map(str::to_owned),
        method,
        activation,
        attributes: if deleted {
            Vec::new()
        } else {
            crate::events::log::changed(before.map(|b| &b.doc), &after.doc)
        },
        data: (!deleted).then(|| user::render(&after.doc, &after.meta, ev.base)),
        version: (!deleted).then(|| after.meta.etag()),
    }
}

/// The manager a user names by our id (IdPs may name one by another key, which the product
/// resolves; those get no `$ref`).
fn manager_id(doc: &user::Doc) -> Option<Uuid> {
    doc.get(ENTERPRISE_USER_SCHEMA)?
        .get("manager")?
        .get("value")?
        .as_str()
        .and_then(|v| Uuid::parse_str(v).ok())
}

/// Renders users with their read-only `groups` (live memberships of live groups; omitted when
/// there are none), then projects them. The groups are those `read` with the users (a list
/// page), else those of all of them from one query, and none when the projection leaves
/// `groups` out.
async fn render(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    base: &str,
    users: &[StoredUser],
    read: Option<HashMap<Uuid, Vec<memberships::GroupRef>>>,
    params: Option<&ListParams>,
) -> Result<Vec<Value>, ScimError> {
    let with_groups = params.is_none_or(|p| requested("groups", &p.attributes, &p.excluded_attributes, true));
    let mut groups = if !with_groups {
        HashMap::new()
    } else if let Some(read) = read {
        read
    } else {
        let ids: Vec<Uuid> = users.iter().map(|u| u.meta.id).collect();
        memberships::groups_of(db, tenant, &ids).await?
    };
    let with_manager = params.is_none_or(|p| {
        requested("manager", &p.attributes, &p.excluded_attributes, true)
            || p.attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
    });
    let managers = if with_manager {
        let ids: Vec<Uuid> = users.iter().filter_map(|u| manager_id(&u.doc)).collect();
        users::display_names(db, tenant, &ids).await?
    } else {
        HashMap::new()
    };
    Ok(users
        .iter()
        .map(|u| {
            let requested = params.map_or(&[][..], |p| p.attributes.as_slice());
            let mut body = user::render_for(&u.doc, &u.meta, base, requested);
            if let Some(id) = manager_id(&u.doc)
                && let Some(name) = managers.get(&id)
            {
                user::describe_manager(&mut body, id, name.as_deref(), base);
            }
            if let (Some(gs), Value::Object(obj)) = (groups.remove(&u.meta.id), &mut body) {
                let refs = gs
                    .iter()
                    .map(|g| user::group_ref(g.group_id, &g.display_name, g.direct, base))
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
