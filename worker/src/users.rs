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

pub mod managers;

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, PgFunc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, DerivePartialModel,
    EntityTrait, IdenStatic, QueryFilter,
};
use serde_json::json;
use shared::db::stmt;
use shared::entity::product_user::{self as user, Column as C};
use shared::messages::{ChangeMessage, Resource, UserSnapshot};
use uuid::Uuid;

use crate::key_locks::{self, Keys, keys_of};
use crate::memberships;
use crate::outcome::Outcome;
use crate::roles::{self, Target};
use crate::rows::{self, Overwrite};

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

/// Applies user changes of distinct users; the outcomes are in the order of `changes`. With
/// `reapply` (a backfill after a mapping change) a change is applied over an equal version too.
pub async fn apply_users(
    txn: &DatabaseTransaction,
    changes: &[UserChange<'_>],
    reapply: bool,
) -> Result<Vec<Outcome>, DbErr> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.msg.resource_id).collect();
    let existing = existing_rows(txn, &ids).await?;

    // Stale changes are settled without locks, as a single apply would.
    let mut outcomes = vec![Outcome::Stale; changes.len()];
    let live: Vec<usize> = (0..changes.len())
        .filter(|&i| {
            let m = changes[i].msg;
            existing.get(&m.resource_id).is_none_or(|e| {
                (e.version < m.version || reapply && e.version == m.version) && e.tenant_id == m.tenant_id
            })
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
            locks.extend(e.keys().lock_values().into_iter().map(|v| (tenant, v)));
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
        memberships::pending_groups(txn, &new_users)
            .await?
            .into_iter()
            .map(|(t, g)| (t, g.to_string())),
    );
    key_locks::lock(txn, locks).await?;

    let written = write_users(
        txn,
        &live.iter().map(|&i| &changes[i]).collect::<Vec<_>>(),
        reapply,
    )
    .await?;
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
    write_access(txn, changes, &live, &written).await?;
    Ok(outcomes)
}

/// The written users' entitlements, and their roles (the IdP's may have changed, and a new
/// user's memberships just materialised), under the roles lock of their tenants (shared). A
/// batch whose users carry no role or entitlement, had none, and whose tenants have no rules
/// (most tenants, every import) has nothing to write: one look says so, instead of two writes.
async fn write_access(
    txn: &DatabaseTransaction,
    changes: &[UserChange<'_>],
    live: &[usize],
    written: &HashSet<Uuid>,
) -> Result<(), DbErr> {
    let mut users = Vec::new();
    let mut tenants = Vec::new();
    let mut pairs = (Vec::new(), Vec::new());
    let mut carried = false;
    for &i in live {
        let c = &changes[i];
        if !written.contains(&c.msg.resource_id) {
            continue;
        }
        carried |=
            !c.user.roles.is_empty() || c.user.primary_role.is_some() || !c.user.entitlements.is_empty();
        users.push(c.msg.resource_id);
        tenants.push(c.msg.tenant_id);
        for e in &c.user.entitlements {
            pairs.0.push(c.msg.resource_id);
            pairs.1.push(e.clone());
        }
    }
    if users.is_empty() {
        return Ok(());
    }
    tenants.sort_unstable();
    tenants.dedup();
    // The lock before the look: a tenant's first rules, committed while this batch waited for
    // it, are then seen; rules committed later wait for this batch, and their re-derivation
    // reads its users.
    roles::lock_shared(txn, &tenants).await?;
    if !carried && !roles::any_access(txn, &users, &tenants).await? {
        return Ok(());
    }
    roles::write_entitlements(txn, users.clone(), pairs).await?;
    roles::derive(txn, Target::Users(users)).await.map(|_| ())
}

/// What a batch needs to know of a user's row before writing it.
#[derive(DerivePartialModel)]
#[sea_orm(entity = "user::Entity")]
struct Existing {
    id: Uuid,
    tenant_id: Uuid,
    version: i64,
    external_id: Option<String>,
    user_name: String,
    emails: Vec<String>,
    employee_number: Option<String>,
}

impl Existing {
    fn keys(&self) -> Keys {
        Keys {
            id: self.id,
            external_id: self.external_id.clone(),
            user_name: self.user_name.clone(),
            emails: self.emails.clone(),
            employee_number: self.employee_number.clone(),
        }
    }
}

async fn existing_rows(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<HashMap<Uuid, Existing>, DbErr> {
    let rows: Vec<Existing> = user::Entity::find()
        .filter(Expr::col(C::Id).eq(PgFunc::any(ids.to_vec())))
        .into_partial_model()
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|e| (e.id, e)).collect())
}

/// Upserts the rows (newer versions only, never across tenants) with their manager links as
/// the table stood before; returns the ids written. Links to users of this same batch are set
/// by the relink that follows.
async fn write_users(
    txn: &DatabaseTransaction,
    changes: &[&UserChange<'_>],
    reapply: bool,
) -> Result<HashSet<Uuid>, DbErr> {
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
                "cost_center": u.cost_center,
                "organization": u.organization,
                "division": u.division,
                "attributes": u.attributes.clone().unwrap_or_default(),
                "idp_roles": u.roles,
                "idp_primary_role": u.primary_role,
                "emails": keys.emails,
                "manager_ref": reference,
                "manager_ref_id": reference.as_deref().and_then(|r| Uuid::parse_str(r).ok()),
                "resolvable": resolvable,
            })
        })
        .collect();
    let manager = managers::resolve_sql("r.tenant_id", "r.id", "r.manager_ref", "r.manager_ref_id");
    let newer = if reapply { "<=" } else { "<" };
    // Every column, in the order of the values below.
    let inserted: Vec<&str> = [C::Id, C::TenantId]
        .iter()
        .chain(&DERIVED)
        .chain(&[C::UpdatedAt])
        .map(|c| c.as_str())
        .collect();
    let inserted = inserted.join(", ");
    let set = DERIVED
        .iter()
        .map(|c| format!("{0} = excluded.{0}", c.as_str()))
        .chain([format!("{} = now()", C::UpdatedAt.as_str())])
        .collect::<Vec<_>>()
        .join(", ");
    // The batch upsert: one statement for the whole batch, the rows passed as one JSON
    // parameter and each manager resolved in SQL by the lookups `resolve_sql` shapes.
    let written = txn
        .query_all_raw(stmt(
            &format!(
                "insert into product.users as p ({inserted})
                 select r.id, r.tenant_id, r.user_name, r.email, r.first_name, r.last_name, r.department,
                     r.job_title, r.active, r.version, r.external_id, r.employee_number, r.emails,
                     r.manager_ref, case when r.resolvable then {manager} end, r.cost_center,
                     r.organization, r.division, r.attributes, r.idp_roles, r.idp_primary_role, now()
                 from jsonb_to_recordset($1::text::jsonb) as r(
                     id uuid, tenant_id uuid, version bigint, user_name text, email text, first_name text,
                     last_name text, department text, job_title text, active boolean, external_id text,
                     employee_number text, emails text[], manager_ref text, manager_ref_id uuid,
                     resolvable boolean, cost_center text, organization text, division text,
                     attributes jsonb, idp_roles text[], idp_primary_role text)
                 on conflict (id) do update set {set}
                 where p.version {newer} excluded.version and p.tenant_id = excluded.tenant_id
                 returning p.id"
            ),
            [serde_json::Value::Array(rows).to_string().into()],
        ))
        .await?;
    written.iter().map(|r| r.try_get_by_index(0)).collect()
}

/// Memberships that arrived before these new users did. Groups that became pending since the
/// locks were taken are locked here first (rare; a deadlock this could cause fails the batch,
/// which the caller then applies change by change).
async fn materialise_memberships(txn: &DatabaseTransaction, users: &[(Uuid, Uuid)]) -> Result<(), DbErr> {
    let groups = memberships::pending_groups(txn, users).await?;
    if groups.is_empty() {
        return Ok(());
    }
    key_locks::lock(txn, groups.into_iter().map(|(t, g)| (t, g.to_string())).collect()).await?;
    memberships::materialise_for_users(txn, users).await
}

/// The columns a snapshot determines: overwritten by every write, compared by reconcile.
const DERIVED: [C; 19] = [
    C::UserName,
    C::Email,
    C::FirstName,
    C::LastName,
    C::Department,
    C::JobTitle,
    C::Active,
    C::Version,
    C::ExternalId,
    C::EmployeeNumber,
    C::Emails,
    C::ManagerRef,
    C::ManagerId,
    C::CostCenter,
    C::Organization,
    C::Division,
    C::Attributes,
    C::IdpRoles,
    C::IdpPrimaryRole,
];

/// Writes one row from a snapshot (reconcile); returns how many rows changed (0 or 1).
pub async fn write_user(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
    version: i64,
    u: &UserSnapshot,
    manager_id: Option<Uuid>,
    how: Overwrite,
) -> Result<u64, DbErr> {
    let row = user::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        user_name: Set(u.user_name.clone()),
        email: Set(u.email.clone()),
        first_name: Set(u.given_name.clone()),
        last_name: Set(u.family_name.clone()),
        department: Set(u.department.clone()),
        job_title: Set(u.title.clone()),
        active: Set(u.active),
        version: Set(version),
        external_id: Set(u.external_id.clone()),
        employee_number: Set(u.employee_number.clone()),
        emails: Set(u.emails.iter().map(|e| e.to_lowercase()).collect()),
        manager_ref: Set(managers::normalise(u.manager.as_deref())),
        manager_id: Set(manager_id),
        cost_center: Set(u.cost_center.clone()),
        organization: Set(u.organization.clone()),
        division: Set(u.division.clone()),
        attributes: Set(serde_json::Value::Object(
            u.attributes.clone().unwrap_or_default(),
        )),
        idp_roles: Set(u.roles.clone()),
        idp_primary_role: Set(u.primary_role.clone()),
        ..Default::default()
    };
    rows::upsert(db, row, &DERIVED, how).await
}

/// Deactivates the tenant's active users other than `known` (reconcile: rows the directory does
/// not know are kept, never deleted); returns how many.
pub async fn deactivate_all_but(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    known: Vec<Uuid>,
) -> Result<u64, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(C::Active, Expr::value(false))
        .col_expr(C::UpdatedAt, Expr::current_timestamp())
        .filter(C::TenantId.eq(tenant))
        .filter(Expr::col(C::Active))
        .filter(rows::other_than(C::Id, known))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// A user's row as verify compares it.
#[derive(Debug, DerivePartialModel)]
#[sea_orm(entity = "user::Entity")]
pub struct ProductUser {
    pub id: Uuid,
    pub user_name: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub manager_id: Option<Uuid>,
    pub active: bool,
    pub version: i64,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub attributes: serde_json::Value,
}

/// The tenant's users in the product, by id.
pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<HashMap<Uuid, ProductUser>, DbErr> {
    let rows: Vec<ProductUser> = user::Entity::find()
        .filter(C::TenantId.eq(tenant))
        .into_partial_model()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|u| (u.id, u)).collect())
}
