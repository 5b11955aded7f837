//! `scim.group_member_refs`: members of a group that name neither a live user nor a live group of
//! the tenant. A user deleted while the IdP's group push was in flight, one never provisioned, a
//! test client's invented id: one such id used to fail the whole request (a 100-member PATCH
//! with one stale id changed nothing). Now the request is applied and the reference is kept and
//! returned as sent. The product never sees them: an id of another tenant's user is a
//! reference here too, and never links. SCIM ids are assigned by this server, so a reference
//! can never come to name a user or group later; it stays until the IdP removes it.
//!
//! Writers hold the group's row lock, as for the pair tables.

use std::collections::HashMap;

use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, PgFunc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use shared::db::stmt;
use shared::entity::scim_group_member_ref::{Column, Entity};
use uuid::Uuid;

use super::memberships::{Key, Member};
use crate::error::ScimError;
use crate::scim::Kind;
use crate::scim::members::Sent;

/// Most references one group keeps: enough for every stale id an IdP could send, and a bound on
/// what a client can make the directory store with ids that name nothing.
pub const MAX_PER_GROUP: u64 = 10_000;

/// Keeps `refs` as members of a locked group (a reference sent again takes its new `type` and
/// `display`); whether anything changed.
pub async fn add(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    refs: &[Sent],
) -> Result<bool, ScimError> {
    if refs.is_empty() {
        return Ok(false);
    }
    let values: Vec<String> = refs.iter().map(|r| r.value.clone()).collect();
    // Bound as text arrays, absent as '' (an empty `type` or `display` says nothing either).
    let kinds: Vec<String> = refs.iter().map(|r| r.kind.clone().unwrap_or_default()).collect();
    let displays: Vec<String> = refs
        .iter()
        .map(|r| r.display.clone().unwrap_or_default())
        .collect();
    // Raw: an upsert of unnested arrays; the last of duplicate values wins, as it would one by
    // one.
    let changed = txn
        .execute_raw(stmt(
            "insert into scim.group_member_refs as r (group_id, value, tenant_id, type, display)
             select distinct on (v) $1, v, $2, nullif(k, ''), nullif(d, '')
             from unnest($3::text[], $4::text[], $5::text[]) with ordinality as s(v, k, d, n)
             order by v, n desc
             on conflict (group_id, value) do update set type = excluded.type, display = excluded.display
             where (r.type, r.display) is distinct from (excluded.type, excluded.display)",
            [
                group.into(),
                tenant.into(),
                values.into(),
                kinds.into(),
                displays.into(),
            ],
        ))
        .await?
        .rows_affected();
    if changed > 0 {
        let kept = Entity::find()
            .filter(Column::GroupId.eq(group))
            .count(txn)
            .await?;
        if kept > MAX_PER_GROUP {
            return Err(ScimError::invalid(
                Kind::InvalidValue,
                format!(
                    "this group would keep {kept} members that are neither users nor groups of this \
                     tenant, more than the {MAX_PER_GROUP} allowed; provision the users first or \
                     check the ids; nothing was changed"
                ),
            ));
        }
    }
    Ok(changed > 0)
}

/// Forgets the references among `values`; whether any was there.
pub async fn remove(txn: &DatabaseTransaction, group: Uuid, values: &[String]) -> Result<bool, DbErr> {
    if values.is_empty() {
        return Ok(false);
    }
    let res = Entity::delete_many()
        .filter(Column::GroupId.eq(group))
        .filter(Expr::col(Column::Value).eq(PgFunc::any(Expr::val(values.to_vec()))))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Forgets every reference but `keep`; whether any was there.
pub async fn remove_all_except(
    txn: &DatabaseTransaction,
    group: Uuid,
    keep: &[String],
) -> Result<bool, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::GroupId.eq(group))
        .filter(
            Expr::col(Column::Value)
                .eq(PgFunc::any(Expr::val(keep.to_vec())))
                .not(),
        )
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// The references of each group, by value.
pub async fn of_groups(
    db: &impl ConnectionTrait,
    groups: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Member>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<Member>> = HashMap::new();
    if groups.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Uuid, String, Option<String>, Option<String>)> = Entity::find()
        .select_only()
        .columns([Column::GroupId, Column::Value, Column::Type, Column::Display])
        .filter(Expr::col(Column::GroupId).eq(PgFunc::any(Expr::val(groups.to_vec()))))
        .order_by_asc(Column::GroupId)
        .order_by_asc(Column::Value)
        .into_tuple()
        .all(db)
        .await?;
    for (group, value, kind, display) in rows {
        out.entry(group).or_default().push(Member {
            key: Key::Ref(value),
            display,
            sent_type: kind,
        });
    }
    Ok(out)
}

/// How many references each group keeps (groups without are absent).
pub async fn counts(db: &impl ConnectionTrait, groups: &[Uuid]) -> Result<HashMap<Uuid, i64>, DbErr> {
    if groups.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = Entity::find()
        .select_only()
        .column(Column::GroupId)
        .expr(Expr::col(Asterisk).count())
        .filter(Expr::col(Column::GroupId).eq(PgFunc::any(Expr::val(groups.to_vec()))))
        .group_by(Column::GroupId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// What the admin page shows of a tenant's references: how many live groups keep how many, and
/// the first `limit` of them as (group displayName, value).
pub struct Summary {
    pub total: i64,
    pub sample: Vec<(String, String)>,
}

pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid, limit: i64) -> Result<Summary, DbErr> {
    // Raw: a count and a sample over the join with live groups.
    let total = db
        .query_one_raw(stmt(
            "select count(*) from scim.group_member_refs r
             join scim.groups g on g.id = r.group_id and g.deleted_at is null
             where r.tenant_id = $1",
            [tenant.into()],
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or_default();
    let sample = db
        .query_all_raw(stmt(
            "select g.display_name, r.value from scim.group_member_refs r
             join scim.groups g on g.id = r.group_id and g.deleted_at is null
             where r.tenant_id = $1 order by g.display_name_key, r.value limit $2",
            [tenant.into(), limit.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_many_by_index::<(String, String)>())
        .collect::<Result<_, _>>()?;
    Ok(Summary { total, sample })
}
