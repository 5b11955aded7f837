//! Applying one change message to the `product` schema. A message is applied iff its version is
//! newer than the row's, so duplicates, redeliveries and out-of-order arrivals are harmless and
//! any number of workers can apply concurrently. Manager links are resolved in the same
//! transaction (see `managers`). A user change is a batch of one (see `batch`).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use shared::db::stmt;
use shared::messages::{ChangeMessage, Resource, UserSnapshot};
use uuid::Uuid;

use crate::batch::UserChange;
use crate::groups;
use crate::managers::{self, Keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The product already has this version or a newer one.
    Stale,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
        }
    }
}

#[derive(Clone)]
pub struct Applier {
    pub db: DatabaseConnection,
    /// Fault injection for tests: hold each transaction open this long before committing, which
    /// widens race windows so that tests can prove they are closed. Never set in production.
    pub hold_before_commit: Option<Duration>,
}

impl Applier {
    pub async fn apply(&self, msg: &ChangeMessage) -> Result<Outcome, DbErr> {
        if let Some(change) = UserChange::of(msg) {
            return Ok(self.apply_users(&[change]).await?[0]);
        }
        let txn = self.db.begin().await?;
        let outcome = match &msg.resource {
            Resource::Group(snapshot) => groups::apply_group(&txn, msg, snapshot).await?,
            Resource::Membership(snapshot) => groups::apply_membership(&txn, msg, snapshot).await?,
            Resource::User(_) => unreachable!("user changes are applied as a batch"),
        };
        if let Some(hold) = self.hold_before_commit {
            tokio::time::sleep(hold).await;
        }
        txn.commit().await?;
        Ok(outcome)
    }
}

pub fn keys_of(id: Uuid, u: &UserSnapshot) -> Keys {
    Keys {
        id,
        external_id: u.external_id.clone(),
        user_name: u.user_name.clone(),
        emails: u.emails.iter().map(|e| e.to_lowercase()).collect(),
        employee_number: u.employee_number.clone(),
    }
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
                "insert into product.users as p
                     (id, tenant_id, user_name, email, first_name, last_name, department, job_title, active,
                      version, external_id, employee_number, emails, manager_ref, manager_id, updated_at)
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
