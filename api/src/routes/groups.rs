//! `/Groups`: group push from Okta and group provisioning from Entra ID. The route flow is
//! `resource`'s; this is what is particular to groups. A group's document and its membership are
//! written in one transaction; membership changes touch only the pairs that change, so a
//! one-member PATCH to a 20,000-member group costs a handful of rows.

use std::collections::HashMap;

use axum::Router;
use axum::routing::{get, post};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use serde_json::Value;
use shared::messages::Resource as MessageResource;
use uuid::Uuid;

use super::resource::{self, Connection, Edit, EventContext, ListPage, Resource, Write, handler_spans};
use crate::directory::groups::{self, StoredGroup};
use crate::directory::memberships::{self, Key, Member, Resolved};
use crate::directory::pairs::{self, Children, Users};
use crate::directory::user_batch::Creates;
use crate::directory::{GROUP_KEYS, Query};
use crate::directory::{member_refs, nesting};
use crate::error::ScimError;
use crate::events::Recorded;
use crate::extract::ScimQuery;
use crate::outbox::Enqueued;
use crate::scim::list::{ListParams, project, requested};
use crate::scim::members::{self, Change, Plan, Sent};
use crate::scim::meta::Meta;
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::{Kind, group, patch};
use crate::state::AppState;

pub(super) struct Group;

// The table is spelled out (not built from `Resource::ENDPOINT`) so the tenancy tests can read
// every route the api declares from the source.
pub fn router() -> Router<AppState> {
    use resource::{create, edit, list, read, remove};
    Router::new()
        .route("/Groups", get(list::<Group>).post(create::<Group>))
        .route("/Groups/.search", post(list::<Group>))
        .route(
            "/Groups/{id}",
            get(read::<Group>)
                .put(edit::<Group>)
                .patch(edit::<Group>)
                .delete(remove::<Group>),
        )
}

/// A group's new document and its membership changes in request order, with every member an add
/// or replace names resolved (users locked).
pub(super) struct Pending {
    doc: group::Doc,
    changes: Vec<Change>,
    resolved: Resolved,
}

impl Resource for Group {
    type Stored = StoredGroup;
    type Replacement = group::Parsed;
    type Patch = Plan;
    type Change = Pending;
    /// Every response to a write follows `attributes` / `excludedAttributes`.
    type WriteQuery = ScimQuery;

    const ENDPOINT: &'static str = "Groups";
    const TYPE: &'static str = "Group";
    const NOUN: &'static str = "group";
    const KEYS: &'static [&'static str] = GROUP_KEYS;

    handler_spans!("groups");

    fn meta(stored: &StoredGroup) -> &Meta {
        &stored.meta
    }

    fn write_params(ScimQuery(query): ScimQuery) -> Result<Option<ListParams>, ScimError> {
        Ok(Some(ListParams::from_query(&query)?))
    }

    async fn get(db: &DatabaseConnection, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
        groups::get(db, tenant, id).await
    }

    async fn lock(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<StoredGroup>, DbErr> {
        groups::lock(txn, tenant, id).await
    }

    /// Members asked for in a list are read for the whole page, so even a lookup by key runs
    /// bounded.
    fn list_is_heavy(params: &ListParams) -> bool {
        lists_members(params)
    }

    /// One page of groups as lists show them, and how many match in all. Lists leave members out
    /// unless `attributes` names them: a page of large groups must stay cheap, and IdPs look groups
    /// up by displayName, not by membership. When asked for, the members of the whole page are
    /// read in one query, and the page ends early where its members would pass `member_budget`
    /// (RFC 7644 §3.4.2.4: `itemsPerPage` tells the client how far it got), so no list answer
    /// holds more members than that, whatever `count` asked for.
    async fn list_page(
        db: &impl ConnectionTrait,
        tenant: Uuid,
        base: &str,
        params: &ListParams,
        q: &Query<'_>,
        member_budget: usize,
    ) -> Result<ListPage, ScimError> {
        let mut page = groups::list(db, tenant, q).await?;
        let with_members = lists_members(params);
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
                let m = with_members
                    .then(|| render_members(members.remove(&g.meta.id).unwrap_or_default(), base));
                project(
                    group::render(&g.doc, &g.meta, base, m),
                    &params.attributes,
                    &params.excluded_attributes,
                )
            })
            .collect();
        Ok(ListPage {
            total: page.total,
            next: page.rest.after(page.groups.len()),
            resources,
        })
    }

    /// One group: members unless the request projects them away (then they are not even read),
    /// `attributes`/`excludedAttributes` applied.
    async fn render(
        db: &DatabaseConnection,
        _tenant: Uuid,
        base: &str,
        stored: &StoredGroup,
        params: Option<&ListParams>,
    ) -> Result<Value, ScimError> {
        let (attributes, excluded) = params.map_or((&[][..], &[][..]), |p| {
            (p.attributes.as_slice(), p.excluded_attributes.as_slice())
        });
        let members = if requested("members", attributes, excluded, true) {
            let mut all = memberships::of_groups(db, &[stored.meta.id]).await?;
            Some(render_members(
                all.remove(&stored.meta.id).unwrap_or_default(),
                base,
            ))
        } else {
            None
        };
        Ok(project(
            group::render(&stored.doc, &stored.meta, base, members),
            attributes,
            excluded,
        ))
    }

    async fn create<C: Connection>(
        db: &C,
        _creates: Option<&Creates>,
        tenant: Uuid,
        body: &Value,
        ev: EventContext<'_>,
    ) -> Result<(StoredGroup, Vec<Enqueued>, bool), ScimError> {
        let parsed = group::parse(body)?;
        let txn = db.begin().await?;
        let (stored, queued) = groups::insert(&txn, tenant, parsed.doc).await?;
        let mut out = vec![queued];
        if let Some(sent) = parsed.members {
            // A new group cannot close a cycle: nothing names it yet.
            let resolved = memberships::resolve(&txn, tenant, &sent).await?;
            let (written, _) = add(&txn, tenant, stored.meta.id, &sent, &resolved).await?;
            out.extend(written);
        }
        let event = Self::event("POST", &stored, &stored, &out, ev);
        let evented = crate::events::log::record(&txn, tenant, &event).await?;
        txn.commit().await?;
        Ok((stored, out, evented))
    }

    /// PUT replaces the attributes and, when the body has `members`, sets the membership to
    /// exactly that list (adds and removes only the difference). A body without `members` leaves
    /// the membership alone (RFC 7644 §3.5.1 lets omitted attributes be "not asserted"): a
    /// rename by PUT must not empty a large group.
    fn parse_replacement(body: &Value) -> Result<group::Parsed, ScimError> {
        Ok(group::parse(body)?)
    }

    fn parse_patch(body: &Value) -> Result<Plan, ScimError> {
        Ok(members::plan(patch::parse(body)?)?)
    }

    /// Every member an add or replace names is resolved here, before any membership row is
    /// written, users locked: a concurrent user deletion then waits for this transaction or is
    /// waited for, and never deadlocks with it. A member that is neither a user nor a group of
    /// the tenant is kept as a reference (it never fails the request); a child group that would
    /// close a cycle is a 400 naming it.
    async fn change(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &StoredGroup,
        edit: Edit<Self>,
    ) -> Result<Pending, ScimError> {
        let (doc, changes) = match edit {
            Edit::Replace(parsed) => (
                parsed.doc,
                parsed.members.into_iter().map(Change::Replace).collect(),
            ),
            Edit::Patch(plan) => {
                let mut doc = current.doc.clone();
                patch::apply_numbered(&GROUP_RESOURCE, &mut doc, &plan.attributes)?;
                group::validate(&doc)?;
                (doc, plan.members)
            }
        };
        let added: Vec<Sent> = changes
            .iter()
            .flat_map(|c| match c {
                Change::Add(sent) | Change::Replace(sent) => sent.as_slice(),
                _ => &[],
            })
            .cloned()
            .collect();
        let resolved = memberships::resolve(txn, tenant, &added).await?;
        nesting::refuse_cycles(txn, tenant, current.meta.id, &resolved.groups()).await?;
        if resolved.refs() > 0 {
            tracing::info!(
                references = resolved.refs(),
                "group members that are neither users nor groups of this tenant kept as references"
            );
        }
        Ok(Pending {
            doc,
            changes,
            resolved,
        })
    }

    /// Stores the new document (if it changed) and applies the membership changes in request
    /// order.
    async fn store(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: StoredGroup,
        Pending {
            doc,
            changes,
            resolved,
        }: Pending,
    ) -> Result<(StoredGroup, Vec<Enqueued>), ScimError> {
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
        let mut refs_changed = false;
        // Only filtered removals need to see the membership; it is read once, and kept as each
        // operation leaves it.
        let mut roster = if changes.iter().any(|c| matches!(c, Change::RemoveMatching(_))) {
            Some(memberships::Roster::load(txn, gid).await?)
        } else {
            None
        };
        let mut changes = changes.into_iter().peekable();
        while let Some(change) = changes.next() {
            let (written, refs) = match change {
                Change::Add(sent) => {
                    roster.iter_mut().for_each(|r| r.add(&sent, &resolved));
                    add(txn, tenant, gid, &sent, &resolved).await?
                }
                Change::Remove(values) => {
                    roster.iter_mut().for_each(|r| r.remove_values(&values));
                    remove(txn, tenant, gid, &values).await?
                }
                Change::RemoveMatching(f) => {
                    // A run of filtered removals is one look at the roster and one statement per
                    // kind of member.
                    let mut filters = vec![f];
                    while let Some(Change::RemoveMatching(_)) = changes.peek() {
                        if let Some(Change::RemoveMatching(f)) = changes.next() {
                            filters.push(f);
                        }
                    }
                    let keys = roster
                        .as_ref()
                        .map(|r| r.matching_any(&filters))
                        .unwrap_or_default();
                    roster.iter_mut().for_each(|r| r.remove(&keys));
                    remove_keys(txn, tenant, gid, &keys).await?
                }
                Change::RemoveAll => {
                    roster.iter_mut().for_each(|r| r.replace(&[], &resolved));
                    replace(txn, tenant, gid, &[], &resolved).await?
                }
                Change::Replace(sent) => {
                    roster.iter_mut().for_each(|r| r.replace(&sent, &resolved));
                    replace(txn, tenant, gid, &sent, &resolved).await?
                }
            };
            out.extend(written);
            refs_changed |= refs;
        }
        let member_changes = out.len() - before;
        if member_changes > 0 || refs_changed {
            tracing::info!(changes = member_changes, refs_changed, "group membership changed");
            if !doc_changed {
                stored = groups::touch(txn, tenant, gid).await?;
            }
        }
        Ok((stored, out))
    }

    async fn delete(
        txn: &DatabaseTransaction,
        tenant: Uuid,
        current: &StoredGroup,
    ) -> Result<Vec<Enqueued>, ScimError> {
        Ok(vec![groups::delete(txn, tenant, current).await?])
    }

    /// PATCH answers 204 No Content (RFC 7644 §3.5.2 allows it; Okta and Entra ID accept it):
    /// echoing a 20,000-member group after every membership change would cost more than the
    /// change. The new `ETag` comes along, for the next `If-Match`. A client that asks for a
    /// representation with `attributes` or `excludedAttributes` gets 200 and the group.
    fn patch_answers_no_content(params: Option<&ListParams>) -> bool {
        params.is_none_or(|p| p.attributes.is_empty() && p.excluded_attributes.is_empty())
    }

    /// A group's change as its SETs tell it. A create carries the group with its members; a
    /// PUT or PATCH carries what changed as a PatchOp (RFC 9967's own `prov:patch:full` form),
    /// so that one member joining a 20,000-member group is one small SET, not the whole
    /// membership; applying the SETs in sequence order rebuilds the group.
    fn event(
        method: &'static str,
        before: &StoredGroup,
        after: &StoredGroup,
        out: &[Enqueued],
        ev: EventContext<'_>,
    ) -> Recorded {
        let (joined, left) = membership_changes(out);
        let mut attributes = if method == "POST" {
            crate::events::log::changed(None, &after.doc)
        } else {
            crate::events::log::changed(Some(&before.doc), &after.doc)
        };
        if !joined.is_empty() || !left.is_empty() {
            attributes.push("members".into());
        }
        let data = match method {
            "DELETE" => None,
            "POST" => {
                let members = joined.iter().map(|k| event_member(k, ev.base)).collect();
                Some(group::render(&after.doc, &after.meta, ev.base, Some(members)))
            }
            _ => Some(patch_of(&before.doc, &after.doc, &joined, &left, ev.base)),
        };
        Recorded {
            txn: ev.txn,
            resource_type: "Group",
            resource_id: after.meta.id,
            external_id: group::external_id(&after.doc).map(str::to_owned),
            method,
            activation: None,
            attributes,
            version: data.is_some().then(|| after.meta.etag()),
            data,
        }
    }

    /// An update logs as it writes (`store`), inside the transaction.
    fn committed(write: Write, _stored: &StoredGroup, out: &[Enqueued]) {
        match write {
            Write::Created => tracing::info!(members = out.len() - 1, "group created"),
            Write::Updated => {}
            Write::Deleted => tracing::info!("group deleted"),
        }
    }
}

/// The members that joined and left the group, from the write's messages: users and child
/// groups (references never reach the product, nor its events).
fn membership_changes(out: &[Enqueued]) -> (Vec<Key>, Vec<Key>) {
    let (mut joined, mut left) = (Vec::new(), Vec::new());
    for e in out {
        let (key, member) = match shared::messages::decode(&e.message.payload).map(|m| m.resource) {
            Ok(MessageResource::Membership(m)) => (Key::User(m.user_id), m.member),
            Ok(MessageResource::ChildGroup(c)) => (Key::Group(c.child_id), c.member),
            _ => continue,
        };
        if member { joined.push(key) } else { left.push(key) }
    }
    (joined, left)
}

/// A member in an event: its id, reference and type (names are not read for events).
fn event_member(key: &Key, base: &str) -> Value {
    Member {
        key: key.clone(),
        display: None,
        sent_type: None,
    }
    .render(base)
}

/// The PatchOp (RFC 7644 §3.5.2) that takes the group from `before` to `after`: attributes
/// replaced or removed, members added and removed.
fn patch_of(before: &group::Doc, after: &group::Doc, joined: &[Key], left: &[Key], base: &str) -> Value {
    let mut ops = Vec::new();
    let replaced: serde_json::Map<String, Value> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !replaced.is_empty() {
        ops.push(serde_json::json!({"op": "replace", "value": replaced}));
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        ops.push(serde_json::json!({"op": "remove", "path": k}));
    }
    if !joined.is_empty() {
        let members: Vec<Value> = joined.iter().map(|k| event_member(k, base)).collect();
        ops.push(serde_json::json!({"op": "add", "path": "members", "value": members}));
    }
    for k in left {
        let (Key::User(id) | Key::Group(id)) = k else {
            continue;
        };
        ops.push(serde_json::json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}));
    }
    serde_json::json!({"schemas": [shared::events::set::PATCH_OP], "Operations": ops})
}

/// Lists carry members only when `attributes` names them.
fn lists_members(params: &ListParams) -> bool {
    requested("members", &params.attributes, &params.excluded_attributes, false)
}

fn render_members(members: Vec<Member>, base: &str) -> Vec<Value> {
    members.iter().map(|m| m.render(base)).collect()
}

/// Adds `sent` members (as `resolved` classified them) to a locked group: the pair messages
/// written, and whether its references changed.
async fn add(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    sent: &[Sent],
    resolved: &Resolved,
) -> Result<(Vec<Enqueued>, bool), ScimError> {
    let split = resolved.split(sent);
    let mut out = pairs::add::<Users>(txn, tenant, group, &split.users).await?;
    out.extend(pairs::add::<Children>(txn, tenant, group, &split.groups).await?);
    let refs = member_refs::add(txn, tenant, group, &split.refs).await?;
    Ok((out, refs))
}

/// Removes members by id, of any kind: an id may name a user, a child group or a reference.
async fn remove(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    values: &[String],
) -> Result<(Vec<Enqueued>, bool), ScimError> {
    let ids = memberships::uuids(values);
    // A NUL names no reference (adds refuse it), and Postgres text cannot hold one.
    let refs: Vec<String> = values.iter().filter(|v| !v.contains('\0')).cloned().collect();
    remove_each(txn, tenant, group, &ids, &ids, &refs).await
}

/// Removes the members a filter selected.
async fn remove_keys(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    keys: &[Key],
) -> Result<(Vec<Enqueued>, bool), ScimError> {
    let (mut users, mut groups, mut refs) = (Vec::new(), Vec::new(), Vec::new());
    for k in keys {
        match k {
            Key::User(id) => users.push(*id),
            Key::Group(id) => groups.push(*id),
            Key::Ref(v) => refs.push(v.clone()),
        }
    }
    remove_each(txn, tenant, group, &users, &groups, &refs).await
}

/// Removes these users, child groups and references from a locked group: the pair messages
/// written, and whether its references changed.
async fn remove_each(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    users: &[Uuid],
    groups: &[Uuid],
    refs: &[String],
) -> Result<(Vec<Enqueued>, bool), ScimError> {
    let mut out = pairs::remove::<Users>(txn, tenant, group, users).await?;
    out.extend(pairs::remove::<Children>(txn, tenant, group, groups).await?);
    let refs = member_refs::remove(txn, group, refs).await?;
    Ok((out, refs))
}

/// The membership becomes exactly `sent`: only the pairs and references that differ change.
async fn replace(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    sent: &[Sent],
    resolved: &Resolved,
) -> Result<(Vec<Enqueued>, bool), ScimError> {
    let split = resolved.split(sent);
    let mut out = pairs::remove_all_except::<Users>(txn, tenant, group, &split.users).await?;
    out.extend(pairs::add::<Users>(txn, tenant, group, &split.users).await?);
    out.extend(pairs::remove_all_except::<Children>(txn, tenant, group, &split.groups).await?);
    out.extend(pairs::add::<Children>(txn, tenant, group, &split.groups).await?);
    let keep: Vec<String> = split.refs.iter().map(|r| r.value.clone()).collect();
    let dropped = member_refs::remove_all_except(txn, group, &keep).await?;
    let added = member_refs::add(txn, tenant, group, &split.refs).await?;
    Ok((out, dropped || added))
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
                return Err(ScimError::invalid(
                    Kind::TooMany,
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
