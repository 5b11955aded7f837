//! Applying many user changes in one transaction, with a fixed number of statements whatever
//! the batch size. One change at a time costs about nine round trips to Postgres, which caps a
//! worker far below what the database can write; an initial import arrives as thousands of
//! independent user changes, so the consumer hands whatever deliveries are waiting to this.
//!
//! The result is the one applying the changes one by one would give: the same version rule
//! (only newer versions are written, never across tenants), the same advisory locks (taken
//! together, in the global order, so batches and single applies cannot deadlock), and manager
//! links re-resolved after all the rows are written, so a manager and its report in the same
//! batch link up whatever their order. A batch that fails is retried change by change by the
//! caller, which isolates a poison change without losing the others.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use serde_json::json;
use shared::db::stmt;
use shared::messages::{ChangeMessage, Resource, UserSnapshot};
use uuid::Uuid;

use crate::key_locks::{self, Keys, keys_of};
use crate::managers;
use crate::outcome::Outcome;

/// One user change of a batch.
pub struct UserChange<'a> {
    pub msg: &'a ChangeMessage,
    pub user: &'a UserSnapshot,
}

impl<'a> UserChange<'a> {
    /// `None` unless the message is a user change.
    pub fn of(msg: &'a ChangeMessage) -> Option<Self> {
        match &msg.resource {
            Resource::User(user) => Some(Self { msg, user }),
            _ => None,
        }
    }
}

/// Applies user changes of distinct users; the outcomes are in the order of `changes`.
pub async fn apply_users(
    txn: &DatabaseTransaction,
    changes: &[UserChange<'_>],
) -> Result<Vec<Outcome>, DbErr> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.msg.resource_id).collect();
    let existing = existing_rows(txn, &ids).await?;

    // Stale changes are settled without locks, as a single apply would.
    let mut outcomes = vec![Outcome::Stale; changes.len()];
    let live: Vec<usize> = (0..changes.len())
        .filter(|&i| {
            let m = changes[i].msg;
            existing
                .get(&m.resource_id)
                .is_none_or(|e| e.version < m.version && e.tenant_id == m.tenant_id)
        })
        .collect();
    if live.is_empty() {
        return Ok(outcomes);
    }
    let new_users: Vec<(Uuid, Uuid)> = live
        .iter()
        .map(|&i| changes[i].msg)
        .filter(|m| !existing.contains_key(&m.resource_id))
        .map(|m| (m.tenant_id, m.resource_id))
        .collect();

    // The same keys a single apply locks: old and new keys, the reference, pending groups.
    let mut locks: Vec<(Uuid, String)> = Vec::new();
    for &i in &live {
        let c = &changes[i];
        let tenant = c.msg.tenant_id;
        if let Some(e) = existing.get(&c.msg.resource_id) {
            locks.extend(e.keys.lock_values().into_iter().map(|v| (tenant, v)));
        }
        locks.extend(
            keys_of(c.msg.resource_id, c.user)
                .lock_values()
                .into_iter()
                .map(|v| (tenant, v)),
        );
        if let Some(r) = managers::normalise(c.user.manager.as_deref()) {
            locks.push((tenant, r.to_lowercase()));
        }
    }
    locks.extend(
        pending_groups(txn, &new_users)
            .await?
            .into_iter()
            .map(|(t, g)| (t, g.to_string())),
    );
    key_locks::lock(txn, locks).await?;

    let written = write_users(txn, &live.iter().map(|&i| &changes[i]).collect::<Vec<_>>()).await?;
    let mut keys = Vec::new();
    let mut relinked = Vec::new();
    for &i in &live {
        let m = changes[i].msg;
        if written.contains(&m.resource_id) {
            outcomes[i] = Outcome::Applied;
            let k = keys_of(m.resource_id, changes[i].user);
            keys.extend(k.lock_values().into_iter().map(|v| (m.tenant_id, v)));
            relinked.push((m.tenant_id, m.resource_id));
        }
    }
    managers::relink(txn, keys, relinked).await?;
    let new_written: Vec<(Uuid, Uuid)> = new_users
        .into_iter()
        .filter(|(_, id)| written.contains(id))
        .collect();
    materialise_memberships(txn, &new_written).await?;
    Ok(outcomes)
}

struct Existing {
    tenant_id: Uuid,
    version: i64,
    keys: Keys,
}

async fn existing_rows(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<HashMap<Uuid, Existing>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "select id, tenant_id, version, external_id, user_name, emails, employee_number
             from product.users where id = any($1)",
            [ids.to_vec().into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let keys = Keys::from_row(row)?;
            Ok((
                keys.id,
                Existing {
                    tenant_id: row.try_get("", "tenant_id")?,
                    version: row.try_get("", "version")?,
                    keys,
                },
            ))
        })
        .collect()
}

fn unzip_pairs<T>(pairs: Vec<(Uuid, T)>) -> (Vec<Uuid>, Vec<T>) {
    pairs.into_iter().unzip()
}

/// Groups with pending memberships of these (tenant, user) pairs.
async fn pending_groups(
    txn: &DatabaseTransaction,
    users: &[(Uuid, Uuid)],
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let (tenants, ids) = unzip_pairs(users.to_vec());
    let rows = txn
        .query_all_raw(stmt(
            "select m.tenant_id, m.group_id from product.membership_versions m
             join unnest($1::uuid[], $2::uuid[]) as n(t, id) on m.user_id = n.id and m.tenant_id = n.t
             where m.member",
            [tenants.into(), ids.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "tenant_id")?, r.try_get("", "group_id")?)))
        .collect()
}

/// Upserts the rows (newer versions only, never across tenants) with their manager links as
/// the table stood before; returns the ids written. Links to users of this same batch are set
/// by the relink that follows.
async fn write_users(txn: &DatabaseTransaction, changes: &[&UserChange<'_>]) -> Result<HashSet<Uuid>, DbErr> {
    let rows: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            let u = c.user;
            let reference = managers::normalise(u.manager.as_deref());
            let keys = keys_of(c.msg.resource_id, u);
            let resolvable = reference.as_deref().is_some_and(|r| {
                let itself = keys.is_named_by(r);
                if itself {
                    tracing::warn!(scim_id = %keys.id, "user names itself as its manager; ignored");
                }
                !itself
            });
            json!({
                "id": c.msg.resource_id,
                "tenant_id": c.msg.tenant_id,
                "version": c.msg.version,
                "user_name": u.user_name,
                "email": u.email,
                "first_name": u.given_name,
                "last_name": u.family_name,
                "department": u.department,
                "job_title": u.title,
                "active": u.active,
                "external_id": u.external_id,
                "employee_number": u.employee_number,
                "emails": keys.emails,
                "manager_ref": reference,
                "manager_ref_id": reference.as_deref().and_then(|r| Uuid::parse_str(r).ok()),
                "resolvable": resolvable,
            })
        })
        .collect();
    let manager = managers::resolve_sql("r.tenant_id", "r.id", "r.manager_ref", "r.manager_ref_id");
    let written = txn
        .query_all_raw(stmt(
            &format!(
                "insert into product.users as p ({INSERTED})
                 select r.id, r.tenant_id, r.user_name, r.email, r.first_name, r.last_name, r.department,
                     r.job_title, r.active, r.version, r.external_id, r.employee_number, r.emails,
                     r.manager_ref, case when r.resolvable then {manager} end, now()
                 from jsonb_to_recordset($1::text::jsonb) as r(
                     id uuid, tenant_id uuid, version bigint, user_name text, email text, first_name text,
                     last_name text, department text, job_title text, active boolean, external_id text,
                     employee_number text, emails text[], manager_ref text, manager_ref_id uuid,
                     resolvable boolean)
                 on conflict (id) do update set {SET_ALL}
                 where p.version < excluded.version and p.tenant_id = excluded.tenant_id
                 returning p.id"
            ),
            [serde_json::Value::Array(rows).to_string().into()],
        ))
        .await?;
    written.iter().map(|r| r.try_get("", "id")).collect()
}

/// Memberships that arrived before these new users did. Groups that became pending since the
/// locks were taken are locked here first (rare; a deadlock this could cause fails the batch,
/// which the caller then applies change by change).
async fn materialise_memberships(txn: &DatabaseTransaction, users: &[(Uuid, Uuid)]) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let groups = pending_groups(txn, users).await?;
    if groups.is_empty() {
        return Ok(());
    }
    key_locks::lock(txn, groups.into_iter().map(|(t, g)| (t, g.to_string())).collect()).await?;
    let (tenants, ids) = unzip_pairs(users.to_vec());
    txn.execute_raw(stmt(
        "insert into product.group_members (group_id, user_id)
         select m.group_id, m.user_id from product.membership_versions m
         join unnest($1::uuid[], $2::uuid[]) as n(t, id) on m.user_id = n.id and m.tenant_id = n.t
         join product.groups g on g.id = m.group_id and g.tenant_id = m.tenant_id
         where m.member
         on conflict do nothing",
        [tenants.into(), ids.into()],
    ))
    .await
    .map(|_| ())
}

/// What reconcile does when the product row exists already (the worker's own writes are in
/// `batch`).
#[derive(Debug, Clone, Copy)]
pub enum OnConflict {
    /// Reconcile's first pass: create missing rows only.
    Nothing,
    /// Reconcile: overwrite with the directory's state when anything differs.
    IfDifferent,
}

/// The columns a write of a `product.users` row gives, in the order its values follow.
pub const INSERTED: &str = "id, tenant_id, user_name, email, first_name, last_name, department, job_title, \
     active, version, external_id, employee_number, emails, manager_ref, manager_id, updated_at";

pub const SET_ALL: &str =
    "user_name = excluded.user_name, email = excluded.email, first_name = excluded.first_name,
     last_name = excluded.last_name, department = excluded.department, job_title = excluded.job_title,
     active = excluded.active, version = excluded.version, external_id = excluded.external_id,
     employee_number = excluded.employee_number, emails = excluded.emails,
     manager_ref = excluded.manager_ref, manager_id = excluded.manager_id, updated_at = now()";

/// The columns a snapshot determines (compared by reconcile).
const DERIVED: [&str; 13] = [
    "user_name",
    "email",
    "first_name",
    "last_name",
    "department",
    "job_title",
    "active",
    "version",
    "external_id",
    "employee_number",
    "emails",
    "manager_ref",
    "manager_id",
];

fn row_of(alias: &str) -> String {
    let cols: Vec<String> = DERIVED.iter().map(|c| format!("{alias}.{c}")).collect();
    format!("({})", cols.join(", "))
}

/// Writes one `product.users` row from a snapshot; returns how many rows changed (0 or 1).
/// The tenant check means a write can never move a row to another tenant, whatever it claims.
pub async fn write_user(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
    version: i64,
    u: &UserSnapshot,
    manager_id: Option<Uuid>,
    on: OnConflict,
) -> Result<u64, DbErr> {
    let on_conflict = match on {
        OnConflict::Nothing => "on conflict (id) do nothing".to_owned(),
        OnConflict::IfDifferent => format!(
            "on conflict (id) do update set {SET_ALL}
             where p.tenant_id = excluded.tenant_id and {} is distinct from {}",
            row_of("p"),
            row_of("excluded"),
        ),
    };
    let emails: Vec<String> = u.emails.iter().map(|e| e.to_lowercase()).collect();
    let res = db
        .execute_raw(stmt(
            &format!(
                "insert into product.users as p ({INSERTED})
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
                 {on_conflict}"
            ),
            [
                id.into(),
                tenant.into(),
                u.user_name.clone().into(),
                u.email.clone().into(),
                u.given_name.clone().into(),
                u.family_name.clone().into(),
                u.department.clone().into(),
                u.title.clone().into(),
                u.active.into(),
                version.into(),
                u.external_id.clone().into(),
                u.employee_number.clone().into(),
                emails.into(),
                managers::normalise(u.manager.as_deref()).into(),
                manager_id.into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected())
}
