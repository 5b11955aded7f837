//! What `product.*` must contain, derived from the directory alone: each user's snapshot at its
//! directory version, and its manager resolved in memory with the same precedence the worker
//! uses in SQL (an independent implementation, so the verifier cross-checks the worker).

use std::collections::{HashMap, HashSet};

use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, DerivePartialModel, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use shared::domain::deprovisioning::Exception;
use shared::domain::mapping;
use shared::domain::user::{Doc, snapshot_mapped};
use shared::entity::{
    scim_group, scim_group_child, scim_group_member, scim_group_member_ref, scim_tenant, scim_user,
};
use shared::messages::UserSnapshot;
use uuid::Uuid;

use crate::key_locks::{Keys, keys_of};
use crate::users::managers::normalise;

/// One user as the product should have it.
#[derive(Debug, Clone)]
pub struct ExpectedUser {
    pub id: Uuid,
    pub version: i64,
    pub snapshot: UserSnapshot,
    pub manager_ref: Option<String>,
    pub manager_id: Option<Uuid>,
}

pub async fn tenants(directory: &impl ConnectionTrait, only: Option<Uuid>) -> Result<Vec<Uuid>, DbErr> {
    use scim_tenant::Column as C;
    let all = scim_tenant::Entity::find().select_only().column(C::Id);
    let chosen = match only {
        Some(t) => all.filter(C::Id.eq(t)),
        None => all.order_by_asc(C::Id),
    };
    chosen.into_tuple().all(directory).await
}

/// A user the deprovisioning guard keeps in the product as it was (its deprovisioning waits, was
/// rejected, or was refused for a protected account), so it is not expected at its directory
/// state: only to be there, active.
#[derive(Debug, Clone)]
pub struct Kept {
    pub user: ExpectedUser,
    pub why: Exception,
}

/// Splits `users` by the deprovisioning guard's exceptions: the ones expected at their directory
/// state (a protected account the directory deactivated is expected active), and the ones kept
/// as they were.
pub fn under_guard(
    users: Vec<ExpectedUser>,
    guard: &HashMap<Uuid, Exception>,
) -> (Vec<ExpectedUser>, Vec<Kept>) {
    let mut expected = Vec::with_capacity(users.len());
    let mut kept = Vec::new();
    for mut u in users {
        match guard.get(&u.id) {
            Some(Exception::Protected) if !u.snapshot.deleted => {
                u.snapshot.active = true;
                expected.push(u);
            }
            Some(&why) => kept.push(Kept { user: u, why }),
            None => expected.push(u),
        }
    }
    (expected, kept)
}

/// A directory row as far as the product cares.
#[derive(DerivePartialModel)]
#[sea_orm(entity = "scim_user::Entity")]
struct DirectoryUser {
    id: Uuid,
    resource: Value,
    version: i64,
    deleted_at: Option<DateTimeWithTimeZone>,
}

/// Every user of the tenant the product should know, tombstones included (the product keeps
/// deleted users as inactive rows).
pub async fn users(directory: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<ExpectedUser>, DbErr> {
    let rows: Vec<DirectoryUser> = scim_user::Entity::find()
        .filter(scim_user::Column::TenantId.eq(tenant))
        .order_by_asc(scim_user::Column::Id)
        .into_partial_model()
        .all(directory)
        .await?;
    // The tenant's mapping of attributes, as the api applies it when it derives a change.
    let mapping = mapping::of_tenant(directory, tenant).await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in rows {
        let doc: Doc = match r.resource {
            Value::Object(m) => m,
            _ => Doc::new(),
        };
        let snapshot = snapshot_mapped(&doc, r.deleted_at.is_some(), &mapping);
        users.push(ExpectedUser {
            id: r.id,
            version: r.version,
            manager_ref: normalise(snapshot.manager.as_deref()),
            snapshot,
            manager_id: None,
        });
    }
    resolve_managers(&mut users);
    Ok(users)
}

/// Precedence: id, externalId, userName, email, employee number; then active first; then lowest id.
fn resolve_managers(users: &mut [ExpectedUser]) {
    let keys: Vec<(Keys, bool)> = users
        .iter()
        .map(|u| (keys_of(u.id, &u.snapshot), u.snapshot.active))
        .collect();
    let mut by: [HashMap<String, Vec<usize>>; 5] = Default::default();
    for (i, (k, _)) in keys.iter().enumerate() {
        by[0].entry(k.id.to_string()).or_default().push(i);
        if let Some(x) = &k.external_id {
            by[1].entry(x.clone()).or_default().push(i);
        }
        by[2].entry(k.user_name.to_lowercase()).or_default().push(i);
        for e in &k.emails {
            by[3].entry(e.clone()).or_default().push(i);
        }
        if let Some(n) = &k.employee_number {
            by[4].entry(n.clone()).or_default().push(i);
        }
    }
    for u in users.iter_mut() {
        let Some(reference) = u.manager_ref.clone() else {
            continue;
        };
        let me = keys.iter().position(|(k, _)| k.id == u.id);
        if me.is_some_and(|i| keys[i].0.is_named_by(&reference)) {
            continue;
        }
        let lower = reference.to_lowercase();
        let lookups = [&lower, &reference, &lower, &lower, &reference];
        u.manager_id = by.iter().zip(lookups).find_map(|(index, key)| {
            let candidates = index.get(key.as_str())?;
            candidates
                .iter()
                .filter(|&&i| keys[i].0.id != u.id)
                .min_by_key(|&&i| (!keys[i].1, keys[i].0.id))
                .map(|&i| keys[i].0.id)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closure_reaches_every_ancestor_once_through_a_diamond() {
        let [top, left, right, bottom, alone] = [0; 5].map(|_| Uuid::now_v7());
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let edges = [(top, left), (top, right), (left, bottom), (right, bottom)];
        let direct = HashSet::from([(bottom, ada), (right, bob), (alone, bob)]);
        let got = closure(&direct, &edges);
        let want = HashSet::from([
            (bottom, ada),
            (left, ada),
            (right, ada),
            (top, ada),
            (right, bob),
            (top, bob),
            (alone, bob),
        ]);
        assert_eq!(got, want);
    }

    fn user(id: u128, name: &str, active: bool, manager: Option<&str>) -> ExpectedUser {
        ExpectedUser {
            id: Uuid::from_u128(id),
            version: 1,
            snapshot: UserSnapshot {
                user_name: name.into(),
                active,
                emails: vec![format!("{name}@x.test")],
                external_id: Some(format!("ext-{name}")),
                ..Default::default()
            },
            manager_ref: manager.map(str::to_owned),
            manager_id: None,
        }
    }

    #[test]
    fn precedence_is_id_then_external_id_then_user_name_then_email() {
        // "b" is user 2's userName and user 3's externalId: externalId wins.
        let mut us = vec![
            user(1, "a", true, Some("ext-c")),
            user(2, "ext-c", true, None),
            user(3, "c", true, None),
        ];
        resolve_managers(&mut us);
        assert_eq!(us[0].manager_id, Some(Uuid::from_u128(3)));
    }

    #[test]
    fn ties_prefer_active_users_then_the_lowest_id() {
        let mut us = vec![
            user(1, "r", true, Some("boss")),
            user(2, "boss", false, None),
            user(3, "boss", true, None),
        ];
        resolve_managers(&mut us);
        assert_eq!(us[0].manager_id, Some(Uuid::from_u128(3)));
    }

    #[test]
    fn self_references_and_unknown_references_resolve_to_nothing() {
        let mut us = vec![
            user(1, "me", true, Some("ME")),
            user(2, "x", true, Some("nobody")),
        ];
        resolve_managers(&mut us);
        assert_eq!(us[0].manager_id, None);
        assert_eq!(us[1].manager_id, None);
    }
}

/// A group as the product should have it (deleted groups are absent from the product).
#[derive(Debug, Clone)]
pub struct ExpectedGroup {
    pub id: Uuid,
    pub name: String,
    pub version: i64,
    pub deleted: bool,
}

/// A directory group as far as the product cares.
#[derive(DerivePartialModel)]
#[sea_orm(entity = "scim_group::Entity")]
struct DirectoryGroup {
    id: Uuid,
    display_name: String,
    version: i64,
    deleted_at: Option<DateTimeWithTimeZone>,
}

pub async fn groups(directory: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<ExpectedGroup>, DbErr> {
    let rows: Vec<DirectoryGroup> = scim_group::Entity::find()
        .filter(scim_group::Column::TenantId.eq(tenant))
        .order_by_asc(scim_group::Column::Id)
        .into_partial_model()
        .all(directory)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ExpectedGroup {
            id: r.id,
            name: r.display_name,
            version: r.version,
            deleted: r.deleted_at.is_some(),
        })
        .collect())
}

/// One (group, user) pair as the directory last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "scim_group_member::Entity")]
pub struct ExpectedMembership {
    pub group_id: Uuid,
    pub user_id: Uuid,
    pub version: i64,
    pub member: bool,
}

pub async fn memberships(
    directory: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Vec<ExpectedMembership>, DbErr> {
    use scim_group_member::Column as C;
    scim_group_member::Entity::find()
        .filter(C::TenantId.eq(tenant))
        .order_by_asc(C::GroupId)
        .order_by_asc(C::UserId)
        .into_partial_model()
        .all(directory)
        .await
}

/// One (parent, child group) pair as the directory last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "scim_group_child::Entity")]
pub struct ExpectedEdge {
    pub group_id: Uuid,
    pub child_id: Uuid,
    pub version: i64,
    pub member: bool,
}

pub async fn edges(directory: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<ExpectedEdge>, DbErr> {
    use scim_group_child::Column as C;
    scim_group_child::Entity::find()
        .filter(C::TenantId.eq(tenant))
        .order_by_asc(C::GroupId)
        .order_by_asc(C::ChildId)
        .into_partial_model()
        .all(directory)
        .await
}

/// The members of live groups that name neither a user nor a group of the tenant: (group,
/// value). The directory keeps them as sent; the product never links them.
pub async fn member_refs(
    directory: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    use scim_group_member_ref::Column as C;
    scim_group_member_ref::Entity::find()
        .select_only()
        .columns([C::GroupId, C::Value])
        .inner_join(scim_group::Entity)
        .filter(C::TenantId.eq(tenant))
        .filter(scim_group::Column::DeletedAt.is_null())
        .order_by_asc(C::GroupId)
        .order_by_asc(C::Value)
        .into_tuple()
        .all(directory)
        .await
}

/// The transitive closure of direct (group, user) memberships over (parent, child) edges:
/// every (ancestor-or-self, user). Computed in memory, independently of the worker's SQL.
pub fn closure(direct: &HashSet<(Uuid, Uuid)>, edges: &[(Uuid, Uuid)]) -> HashSet<(Uuid, Uuid)> {
    let mut parents: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for &(p, c) in edges {
        parents.entry(c).or_default().push(p);
    }
    let mut above: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut out = HashSet::new();
    for &(g, u) in direct {
        let groups = above.entry(g).or_insert_with(|| {
            let (mut seen, mut stack) = (HashSet::from([g]), vec![g]);
            while let Some(x) = stack.pop() {
                for &p in parents.get(&x).into_iter().flatten() {
                    if seen.insert(p) {
                        stack.push(p);
                    }
                }
            }
            seen.into_iter().collect()
        });
        out.extend(groups.iter().map(|&a| (a, u)));
    }
    out
}
