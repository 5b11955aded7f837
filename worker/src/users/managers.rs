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

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use uuid::Uuid;

/// A reference as stored: trimmed, `None` when empty.
pub fn normalise(reference: Option<&str>) -> Option<String> {
    reference
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// SQL for the user `reference` names among `tenant`'s users other than `me` (a scalar
/// subquery; null when nobody matches). The arguments are SQL expressions; `reference_id` is
/// the reference read as a uuid, or null.
///
/// One branch per key, each an exact lookup in that key's index. Written as one OR, the planner
/// may instead scan the whole tenant and filter, which it judges cheap whenever its statistics
/// still describe the tenant as small; during a new tenant's import they always do, and every
/// lookup then grew with the import (26 ms per lookup after 2,000 users). For the same reason
/// no branch says `tenant_id = ..`: the planner then had four tenant-first indexes to choose from
/// at the same estimated cost, and walked the tenant through the employee-number index for every
/// key (30 ms per batch after 300 users). Each key index is `(key, (tenant_id::text))` and each
/// branch compares [`same_tenant`], which only that index can answer. The id and emails
/// branches find the row by its key alone and check the tenant on it (`offset 0` fences).
pub fn resolve_sql(tenant: &str, me: &str, reference: &str, reference_id: &str) -> String {
    let same = |m: &str| same_tenant(m, tenant);
    format!(
        "(select c.id from (
              select k.id, 0 as rank, k.active from (
                  select m.id, m.tenant_id, m.active from product.users m
                  where m.id = {reference_id} offset 0) k
                  where k.tenant_id = {tenant}
              union all
              select m.id, 1, m.active from product.users m
                  where m.external_id = {reference} and {m}
              union all
              select m.id, 2, m.active from product.users m
                  where lower(m.user_name) = lower({reference}) and {m}
              union all
              select e.id, 3, e.active from (
                  select m.id, m.tenant_id, m.active from product.users m
                  where m.emails @> array[lower({reference})] offset 0) e
                  where e.tenant_id = {tenant}
              union all
              select m.id, 4, m.active from product.users m
                  where m.employee_number = {reference} and {m}
          ) c
          where c.id <> {me}
          order by c.rank, c.active desc, c.id
          limit 1)",
        m = same("m"),
    )
}

/// SQL: row `alias` belongs to `tenant`, in the form the key indexes' second column has (see
/// [`resolve_sql`]); the tenant index cannot answer it.
pub fn same_tenant(alias: &str, tenant: &str) -> String {
    format!("{alias}.tenant_id::text = {tenant}::text")
}

/// SQL reading `reference` as a uuid exactly where `Uuid::parse_str` would (simple, hyphenated,
/// braced and urn forms), else null; Postgres alone would accept other spellings too.
pub fn uuid_sql(reference: &str) -> String {
    const HEX: &str = "[0-9a-fA-F]";
    let hyphenated = format!("{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}");
    format!(
        "(case when {reference} ~ '^({hyphenated}|{HEX}{{32}}|\\{{{hyphenated}\\}})$' then {reference}::uuid
               when {reference} ~ '^urn:uuid:{hyphenated}$' then substr({reference}, 10)::uuid end)"
    )
}

/// SQL: whether the user in row `r` is named by its own `manager_ref`, with [`Keys::is_named_by`]'s
/// rules (such a reference resolves to nothing).
pub fn names_itself_sql(r: &str) -> String {
    format!(
        "({r}.id::text = lower({r}.manager_ref) or {r}.external_id = {r}.manager_ref
          or lower({r}.user_name) = lower({r}.manager_ref) or {r}.emails @> array[lower({r}.manager_ref)]
          or {r}.employee_number = {r}.manager_ref)"
    )
}

/// Re-resolves, in one statement, the link of each user in `ids`, of every user whose reference
/// names one of the (tenant, lower-cased key) pairs in `keys`, and of every user whose link
/// points at one of `ids`; writes only the links that change. Run it after writing the users
/// in `ids` (whose keys are `keys`), with their locks held, so links reach the final state
/// whatever order the users arrived in.
pub async fn relink(
    txn: &DatabaseTransaction,
    keys: Vec<(Uuid, String)>,
    ids: Vec<(Uuid, Uuid)>,
) -> Result<u64, DbErr> {
    let (key_tenants, key_values): (Vec<Uuid>, Vec<String>) = keys.into_iter().unzip();
    let (id_tenants, id_values): (Vec<Uuid>, Vec<Uuid>) = ids.into_iter().unzip();
    let target = resolve_sql("r.tenant_id", "r.id", "r.manager_ref", &uuid_sql("r.manager_ref"));
    let names_itself = names_itself_sql("r");
    let same = same_tenant("r", "k.t");
    let res = txn
        .execute_raw(stmt(
            &format!(
                "with keys as (select * from unnest($1::uuid[], $2::text[]) as k(t, v)),
                      ids as (select * from unnest($3::uuid[], $4::uuid[]) as i(t, id)),
                      candidates as (
                          select i.id from ids i
                          union
                          select x.id from keys k cross join lateral (
                              select r.id from product.users r
                              where lower(r.manager_ref) = k.v and {same} and r.manager_ref is not null
                              offset 0) x
                          union
                          select x.id from ids i cross join lateral (
                              select r.id, r.tenant_id from product.users r where r.manager_id = i.id offset 0) x
                          where x.tenant_id = i.t
                      ),
                      targets as (
                          select r.id, r.current,
                              case when r.manager_ref is null or r.names_itself then null
                                   else {target} end as target
                          from candidates c cross join lateral (
                              select r.id, r.tenant_id, r.manager_ref, r.manager_id as current,
                                  {names_itself} as names_itself
                              from product.users r where r.id = c.id offset 0) r
                      )
                 update product.users u set manager_id = t.target, updated_at = now()
                 from targets t where u.id = t.id and t.target is distinct from t.current"
            ),
            [
                key_tenants.into(),
                key_values.into(),
                id_tenants.into(),
                id_values.into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_locks::Keys;

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
