//! Applying one change message to the `product` schema. A message is applied iff its version is
//! newer than the row's, so duplicates, redeliveries and out-of-order arrivals are harmless and
//! any number of workers can apply concurrently. Manager links are resolved in the same
//! transaction (see `managers`). User and membership changes are
//! applied as batches (a single one is a batch of one; see `batch` and `groups`).

use std::time::Duration;

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use shared::db::stmt;
use shared::messages::{ChangeMessage, Resource, UserSnapshot};
use uuid::Uuid;

use crate::batch::{self, UserChange};
use crate::groups::{self, MembershipChange};
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

/// What the consumer may apply together in one transaction: changes of one kind, each about a
/// different key (a statement cannot upsert one row twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKey {
    User(Uuid),
    Membership { group: Uuid, user: Uuid },
}

impl BatchKey {
    /// `None` for changes applied one at a time (groups).
    pub fn of(msg: &ChangeMessage) -> Option<Self> {
        match &msg.resource {
            Resource::User(_) => Some(Self::User(msg.resource_id)),
            Resource::Membership(m) => Some(Self::Membership {
                group: msg.resource_id,
                user: m.user_id,
            }),
            Resource::Group(_) => None,
        }
    }

    /// Whether changes with these keys may share a batch.
    pub fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl Applier {
    pub async fn apply(&self, msg: &ChangeMessage) -> Result<Outcome, DbErr> {
        if BatchKey::of(msg).is_some() {
            return Ok(self.apply_batch(&[msg]).await?[0]);
        }
        let txn = self.db.begin().await?;
        let outcome = match &msg.resource {
            Resource::Group(snapshot) => groups::apply_group(&txn, msg, snapshot).await?,
            Resource::User(_) | Resource::Membership(_) => unreachable!("applied as a batch"),
        };
        self.commit(txn).await?;
        Ok(outcome)
    }

    /// Applies changes of one kind with distinct [`BatchKey`]s in one transaction; the outcomes
    /// are in the order of `msgs`.
    pub async fn apply_batch(&self, msgs: &[&ChangeMessage]) -> Result<Vec<Outcome>, DbErr> {
        let keys: Vec<BatchKey> = msgs.iter().filter_map(|m| BatchKey::of(m)).collect();
        let one_kind = keys.len() == msgs.len() && keys.iter().all(|k| k.same_kind(&keys[0]));
        let distinct = keys.iter().collect::<HashSet<_>>().len() == keys.len();
        if msgs.is_empty() || !one_kind || !distinct {
            return Err(DbErr::Custom(
                "a batch holds changes of one kind with distinct keys".into(),
            ));
        }
        let txn = self.db.begin().await?;
        let outcomes = match keys[0] {
            BatchKey::User(_) => {
                let changes: Vec<UserChange> = msgs.iter().filter_map(|m| UserChange::of(m)).collect();
                batch::apply_users(&txn, &changes).await?
            }
            BatchKey::Membership { .. } => {
                let changes: Vec<MembershipChange> =
                    msgs.iter().filter_map(|m| MembershipChange::of(m)).collect();
                groups::apply_memberships(&txn, &changes).await?
            }
        };
        self.commit(txn).await?;
        Ok(outcomes)
    }

    async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        if let Some(hold) = self.hold_before_commit {
            tokio::time::sleep(hold).await;
        }
        txn.commit().await
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
