//! Manager links. `manager.value` may be our SCIM id or the manager's externalId, userName,
//! email or employee number; it is resolved inside the tenant in that order of precedence (then
//! active before inactive, then lowest id, so the answer is deterministic). An unresolvable
//! reference stays pending in `manager_ref` and is resolved when a matching user is applied.
//!
//! The race (a user and its manager applied at the same moment by two workers, each missing the
//! other's uncommitted row) is closed by transaction-scoped advisory locks on the lookup keys:
//! a user locks every key it can be referenced by and the key it references, so the two
//! transactions serialise on the shared key and the second one sees the first one's commit.
//! Locks are taken in sorted order before any row is written, so they cannot deadlock.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};
use shared::db::stmt;
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
    pub fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self {
            id: row.try_get("", "id")?,
            external_id: row.try_get("", "external_id")?,
            user_name: row.try_get("", "user_name")?,
            emails: row.try_get("", "emails")?,
            employee_number: row.try_get("", "employee_number")?,
        })
    }

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

/// A reference as stored: trimmed, `None` when empty.
pub fn normalise(reference: Option<&str>) -> Option<String> {
    reference
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Takes the advisory locks for `values` of `tenant`, in a global order.
pub async fn lock(txn: &DatabaseTransaction, tenant: Uuid, values: Vec<String>) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "select count(pg_advisory_xact_lock(k)) from (
             select distinct hashtextextended($1 || ':' || v, 0) as k from unnest($2::text[]) as v order by k
         ) as keys",
        [tenant.to_string().into(), values.into()],
    ))
    .await
    .map(|_| ())
}

/// The user `reference` names in `tenant`, other than `me`. Self-references resolve to nothing.
pub async fn resolve(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    me: &Keys,
    reference: Option<&str>,
) -> Result<Option<Uuid>, DbErr> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    if me.is_named_by(reference) {
        tracing::warn!(scim_id = %me.id, "user names itself as its manager; ignored");
        return Ok(None);
    }
    // The id branch compares as uuid, not text, so that every branch of the OR can use an index
    // (a text cast of the key would scan the whole table on every apply).
    let as_id: Option<Uuid> = Uuid::parse_str(reference).ok();
    let row = db
        .query_one_raw(stmt(
            "select id from product.users
             where tenant_id = $1 and id <> $2 and (
                 id = $4 or external_id = $3 or lower(user_name) = lower($3)
                 or emails @> array[lower($3)] or employee_number = $3)
             order by case
                 when id = $4 then 0
                 when external_id = $3 then 1
                 when lower(user_name) = lower($3) then 2
                 when emails @> array[lower($3)] then 3
                 else 4 end,
               active desc, id
             limit 1",
            [
                tenant.into(),
                me.id.into(),
                reference.to_owned().into(),
                as_id.into(),
            ],
        ))
        .await?;
    row.map(|r| r.try_get("", "id")).transpose()
}

/// Re-resolves every user whose reference names `manager` by one of its keys, or whose link
/// points at it: pending links get set, links that no longer fit move or clear.
pub async fn relink_reports(txn: &DatabaseTransaction, tenant: Uuid, manager: &Keys) -> Result<u64, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "select id, external_id, user_name, emails, employee_number, manager_ref, manager_id
             from product.users
             where tenant_id = $1 and id <> $2 and manager_ref is not null
               and (lower(manager_ref) = any($3::text[]) or manager_id = $2)",
            [tenant.into(), manager.id.into(), manager.lock_values().into()],
        ))
        .await?;
    let mut changed = 0;
    for row in &rows {
        let report = Keys::from_row(row)?;
        let reference: Option<String> = row.try_get("", "manager_ref")?;
        let current: Option<Uuid> = row.try_get("", "manager_id")?;
        let target = resolve(txn, tenant, &report, reference.as_deref()).await?;
        if target != current {
            txn.execute_raw(stmt(
                "update product.users set manager_id = $3, updated_at = now() where tenant_id = $1 and id = $2",
                [tenant.into(), report.id.into(), target.into()],
            ))
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            id: Uuid::nil(),
            external_id: Some("00uAbC".into()),
            user_name: "Ada@Acme.test".into(),
            emails: vec!["ada@acme.test".into(), "a.l@acme.test".into()],
            employee_number: Some("E-7".into()),
        }
    }

    #[test]
    fn a_user_is_named_by_each_of_its_keys_with_the_resolver_rules() {
        let k = keys();
        for r in [
            "00000000-0000-0000-0000-000000000000",
            "00uAbC",
            "ada@ACME.test",
            "A.L@acme.test",
            "E-7",
        ] {
            assert!(k.is_named_by(r), "{r}");
        }
        assert!(!k.is_named_by("00uabc"), "externalId is case-exact");
        assert!(!k.is_named_by("e-7"), "employee numbers are exact");
        assert!(!k.is_named_by("someone@else"));
    }

    #[test]
    fn lock_values_cover_every_key_lower_cased() {
        let v = keys().lock_values();
        for expected in [
            "00000000-0000-0000-0000-000000000000",
            "ada@acme.test",
            "00uabc",
            "e-7",
            "a.l@acme.test",
        ] {
            assert!(v.contains(&expected.to_owned()), "{expected}");
        }
    }

    #[test]
    fn blank_references_are_no_reference() {
        assert_eq!(normalise(Some("  ")), None);
        assert_eq!(normalise(Some(" m@x ")), Some("m@x".into()));
        assert_eq!(normalise(None), None);
    }
}
