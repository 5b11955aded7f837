//! The keys a user can be referenced by, and the transaction-scoped advisory locks on them that
//! serialise a user with its manager and its memberships across workers (see `managers` for the
//! race they close). Every apply path takes its locks here, together and in one global order,
//! so batches and single applies cannot deadlock.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use shared::messages::UserSnapshot;
use uuid::Uuid;

/// What a user can be referenced by, normalised for comparison.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub user_name: String,
    /// Lower-cased.
    pub emails: Vec<String>,
    pub employee_number: Option<String>,
}

impl Keys {
    /// Lower-cased values to lock (over-locking on case only serialises a little more).
    pub fn lock_values(&self) -> Vec<String> {
        let mut v = vec![self.id.to_string(), self.user_name.to_lowercase()];
        v.extend(self.external_id.iter().map(|s| s.to_lowercase()));
        v.extend(self.employee_number.iter().map(|s| s.to_lowercase()));
        v.extend(self.emails.iter().cloned());
        v
    }

    /// Whether `reference` names this user by any key, with the resolver's comparison rules.
    pub fn is_named_by(&self, reference: &str) -> bool {
        let lower = reference.to_lowercase();
        self.id.to_string() == lower
            || self.external_id.as_deref() == Some(reference)
            || self.user_name.to_lowercase() == lower
            || self.emails.contains(&lower)
            || self.employee_number.as_deref() == Some(reference)
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

/// Takes the advisory locks for each (tenant, value) pair, in one global order, so that
/// transactions locking overlapping sets (one change or a batch of them) cannot deadlock.
pub async fn lock(txn: &DatabaseTransaction, pairs: Vec<(Uuid, String)>) -> Result<(), DbErr> {
    let (tenants, values): (Vec<Uuid>, Vec<String>) = pairs.into_iter().unzip();
    // SQL, not the builder: the order of acquisition is the statement's whole point, and it
    // reads plainly only as the subquery that sorts the keys.
    txn.execute_raw(stmt(
        "select count(pg_advisory_xact_lock(k)) from (
             select distinct hashtextextended(t::text || ':' || v, 0) as k
             from unnest($1::uuid[], $2::text[]) as pairs(t, v) order by k
         ) as keys",
        [tenants.into(), values.into()],
    ))
    .await
    .map(|_| ())
}
