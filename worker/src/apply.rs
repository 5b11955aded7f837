//! Applying one change message to the `product` schema. A message is applied iff its version is
//! newer than the row's, in one statement, so duplicates, redeliveries and out-of-order arrivals
//! are harmless and any number of workers can apply concurrently.

use sea_orm::{ConnectionTrait, DbErr};
use shared::db::stmt;
use shared::messages::{ChangeMessage, Resource, UserSnapshot};

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

pub async fn apply(db: &impl ConnectionTrait, msg: &ChangeMessage) -> Result<Outcome, DbErr> {
    match &msg.resource {
        Resource::User(snapshot) => apply_user(db, msg, snapshot).await,
    }
}

async fn apply_user(
    db: &impl ConnectionTrait,
    msg: &ChangeMessage,
    u: &UserSnapshot,
) -> Result<Outcome, DbErr> {
    // The tenant check in the WHERE clause means a message can never move a row to another
    // tenant, whatever it claims.
    let res = db
        .execute_raw(stmt(
            "insert into product.users as p
                 (id, tenant_id, user_name, email, first_name, last_name, department, job_title, active, version, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
             on conflict (id) do update set
                 user_name = excluded.user_name, email = excluded.email, first_name = excluded.first_name,
                 last_name = excluded.last_name, department = excluded.department, job_title = excluded.job_title,
                 active = excluded.active, version = excluded.version, updated_at = now()
             where p.version < excluded.version and p.tenant_id = excluded.tenant_id",
            [
                msg.resource_id.into(),
                msg.tenant_id.into(),
                u.user_name.clone().into(),
                u.email.clone().into(),
                u.given_name.clone().into(),
                u.family_name.clone().into(),
                u.department.clone().into(),
                u.title.clone().into(),
                u.active.into(),
                msg.version.into(),
            ],
        ))
        .await?;
    Ok(if res.rows_affected() > 0 {
        Outcome::Applied
    } else {
        Outcome::Stale
    })
}
