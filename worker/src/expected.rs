//! What `product.*` must contain, derived from the directory alone: each user's snapshot at its
//! directory version, and its manager resolved in memory with the same precedence the worker
//! uses in SQL (an independent implementation, so the verifier cross-checks the worker).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;
use shared::db::stmt;
use shared::domain::user::{Doc, snapshot};
use shared::messages::UserSnapshot;
use uuid::Uuid;

use crate::key_locks::{Keys, keys_of};
use crate::managers::normalise;

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
    let rows = match only {
        Some(t) => {
            directory
                .query_all_raw(stmt("select id from scim.tenants where id = $1", [t.into()]))
                .await?
        }
        None => {
            directory
                .query_all_raw(stmt("select id from scim.tenants order by id", []))
                .await?
        }
    };
    rows.iter().map(|r| r.try_get("", "id")).collect()
}

/// Every user of the tenant the product should know, tombstones included (the product keeps
/// deleted users as inactive rows).
pub async fn users(directory: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<ExpectedUser>, DbErr> {
    let rows = directory
        .query_all_raw(stmt(
            "select id, resource, version, deleted_at is not null as deleted
             from scim.users where tenant_id = $1 order by id",
            [tenant.into()],
        ))
        .await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in &rows {
        let doc: Value = r.try_get("", "resource")?;
        let doc: Doc = match doc {
            Value::Object(m) => m,
            _ => Doc::new(),
        };
        let deleted: bool = r.try_get("", "deleted")?;
        let snapshot = snapshot(&doc, deleted);
        users.push(ExpectedUser {
            id: r.try_get("", "id")?,
            version: r.try_get("", "version")?,
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

pub async fn groups(directory: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<ExpectedGroup>, DbErr> {
    let rows = directory
        .query_all_raw(stmt(
            "select id, display_name, version, deleted_at is not null as deleted
             from scim.groups where tenant_id = $1 order by id",
            [tenant.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ExpectedGroup {
                id: r.try_get("", "id")?,
                name: r.try_get("", "display_name")?,
                version: r.try_get("", "version")?,
                deleted: r.try_get("", "deleted")?,
            })
        })
        .collect()
}

/// One (group, user) pair as the directory last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let rows = directory
        .query_all_raw(stmt(
            "select group_id, user_id, version, member from scim.group_members where tenant_id = $1
             order by group_id, user_id",
            [tenant.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ExpectedMembership {
                group_id: r.try_get("", "group_id")?,
                user_id: r.try_get("", "user_id")?,
                version: r.try_get("", "version")?,
                member: r.try_get("", "member")?,
            })
        })
        .collect()
}
