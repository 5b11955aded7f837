//! `scim.group_members`: one row per (group, user) ever related, with the pair's own `version`
//! and a `member` flag. Every actual change bumps the pair's version and enqueues one small
//! message for that pair, so changing one member of a 20,000-member group costs a few rows,
//! never a rewrite of the group. Changes are set-based SQL over arrays of ids: a hundred
//! members are a few statements, not a hundred round trips.
//!
//! Writers hold the group's row lock (`directory::groups::lock`), and lock the users they add
//! `FOR SHARE`; deleting a user locks it `FOR UPDATE`. So a user cannot be added to a group
//! while it is being deleted, and a deleted user's removal sees every membership committed
//! before it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Func, LockType, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryResult, QuerySelect,
};
use serde_json::json;
use shared::db::stmt;
use shared::entity::{scim_group, scim_group_member as pair, scim_user};
use shared::messages::{ChangeMessage, MembershipSnapshot, Operation, Resource};
use uuid::Uuid;

use super::users::Users;
use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::Kind;
use crate::scim::filter::{self, Filter};
use crate::scim::schema::GROUP_RESOURCE;

/// Most offending ids named in one error detail; the rest are counted.
const MAX_NAMED: usize = 10;

/// A live member, with what a client sees of it.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Uuid,
    pub user_name: String,
}

/// A live group a user belongs to.
#[derive(Debug, Clone)]
pub struct GroupRef {
    pub group_id: Uuid,
    pub display_name: String,
}

/// Checks that every id names a live user of the tenant and locks those users `FOR SHARE`
/// until the transaction ends. Returns them sorted, without duplicates. Anything else (not a
/// UUID, unknown, deleted, another tenant's) is a 400 naming it: dropping it silently would
/// leave the IdP believing the member was added.
pub async fn resolve_users(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    raw: &[String],
) -> Result<Vec<Uuid>, ScimError> {
    let mut bad: Vec<&str> = Vec::new();
    let mut wanted = BTreeSet::new();
    for r in raw {
        match Uuid::parse_str(r) {
            Ok(id) => {
                wanted.insert(id);
            }
            Err(_) => bad.push(r),
        }
    }
    let wanted: Vec<Uuid> = wanted.into_iter().collect();
    let found: BTreeSet<Uuid> = if wanted.is_empty() {
        BTreeSet::new()
    } else {
        // By key, the tenant checked on the rows (see `directory::in_tenant`).
        let lookup = any(scim_user::Column::Id, &wanted).and(scim_user::Column::DeletedAt.is_null());
        let found = super::fenced::<Users>(tenant, lookup)
            .order_by_expr(super::fenced_id::<Users>(), Order::Asc)
            .lock(LockType::Share)
            .to_owned();
        txn.query_all(&found)
            .await?
            .iter()
            .map(|r| r.try_get_by_index::<Uuid>(0))
            .collect::<Result<_, _>>()?
    };
    let missing: Vec<String> = wanted
        .iter()
        .filter(|id| !found.contains(id))
        .map(Uuid::to_string)
        .collect();
    let mut offending: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
    offending.extend(missing);
    if offending.is_empty() {
        return Ok(wanted);
    }
    let named: Vec<String> = offending
        .iter()
        .take(MAX_NAMED)
        .map(|id| format!("'{}'", clip(id)))
        .collect();
    let more = match offending.len().saturating_sub(MAX_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(ScimError::invalid(
        Kind::InvalidValue,
        format!(
            "members must be users of this tenant, by their SCIM id; no such user: {}{more}. \
             Provision the users first (or check the ids); nothing was changed",
            named.join(", ")
        ),
    ))
}

fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The ids among `raw` that are UUIDs, sorted, without duplicates. For a removal, ids that
/// cannot be users are skipped: removing what is not a member succeeds (IdPs retry removals,
/// and a deleted user has already left its groups). For an add, [`resolve_users`] has already
/// refused anything that is not a live user.
pub fn uuids(raw: &[String]) -> Vec<Uuid> {
    let set: BTreeSet<Uuid> = raw.iter().filter_map(|r| Uuid::parse_str(r).ok()).collect();
    set.into_iter().collect()
}

/// `col = any(ids)`: one bound array, whatever the number of ids.
fn any<C: ColumnTrait>(col: C, ids: &[Uuid]) -> Expr {
    col.into_expr().eq(PgFunc::any(Expr::val(ids.to_vec())))
}

/// One message per changed pair; `resource_id` is the group, `version` the pair's.
fn messages(tenant: Uuid, pairs: &[pair::Model]) -> Vec<ChangeMessage> {
    pairs
        .iter()
        .map(|p| {
            ChangeMessage::new(
                tenant,
                p.group_id,
                p.version,
                if p.member {
                    Operation::Created
                } else {
                    Operation::Deleted
                },
                p.updated_at.to_utc(),
                Resource::Membership(MembershipSnapshot {
                    user_id: p.user_id,
                    member: p.member,
                }),
            )
        })
        .collect()
}

/// The pairs a raw statement returned (`returning m.*`).
fn returned(rows: &[QueryResult]) -> Result<Vec<pair::Model>, DbErr> {
    rows.iter()
        .map(|r| pair::Model::from_query_result(r, ""))
        .collect()
}

/// Makes `users` (resolved by [`resolve_users`]) members of a locked group. A new pair starts at
/// version 1, a former member's pair moves on; current members are left alone (no message).
pub async fn add(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    users: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    // Raw: one upsert of an unnested id array, its conflict update conditional on the pair.
    let rows = txn
        .query_all_raw(stmt(
            "insert into scim.group_members as m (group_id, user_id, tenant_id, member, version, updated_at)
             select $1, u, $2, true, 1, now() from unnest($3::uuid[]) as u
             on conflict (group_id, user_id) do update
                set member = true, version = m.version + 1, updated_at = greatest(now(), m.updated_at)
                where not m.member
             returning m.*",
            [group.into(), tenant.into(), users.to_vec().into()],
        ))
        .await?;
    outbox::enqueue_many(txn, &messages(tenant, &returned(&rows)?)).await
}

/// Ends the live memberships of a locked group that `which` selects: one statement, each pair's
/// version moved on.
async fn leave(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    which: Expr,
) -> Result<Vec<Enqueued>, DbErr> {
    let later = Func::greatest([Expr::current_timestamp(), Expr::col(pair::Column::UpdatedAt)]);
    let pairs = pair::Entity::update_many()
        .col_expr(pair::Column::Member, Expr::val(false))
        .col_expr(pair::Column::Version, Expr::col(pair::Column::Version).add(1))
        .col_expr(pair::Column::UpdatedAt, later.into())
        .filter(pair::Column::GroupId.eq(group))
        .filter(pair::Column::Member.into_expr())
        .filter(which)
        .exec_with_returning(txn)
        .await?;
    outbox::enqueue_many(txn, &messages(tenant, &pairs)).await
}

/// Removes `users` from a locked group; those that are not members are left alone.
pub async fn remove(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    users: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    leave(txn, tenant, group, any(pair::Column::UserId, users)).await
}

/// Removes every member of a locked group except `keep`: with [`add`], a replace of the whole
/// list that touches only the pairs that change.
pub async fn remove_all_except(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    group: Uuid,
    keep: &[Uuid],
) -> Result<Vec<Enqueued>, DbErr> {
    leave(txn, tenant, group, any(pair::Column::UserId, keep).not()).await
}

/// A group's members as a request's operations leave them, in memory, for PATCH value filters
/// other than `value eq` (`members[display sw "a"]`; rare: IdPs remove by id). Read once per
/// request: a PATCH of a thousand filtered removals on a 10,000-member group read the whole
/// membership a thousand times under the group's lock.
pub struct Roster {
    /// Each member as a filter sees it (`value`, `display`, `type`), built once.
    members: BTreeMap<Uuid, serde_json::Value>,
    /// Members by lower-cased `display`: `members[display eq "x"]` finds its candidates here
    /// instead of evaluating the filter on every member.
    by_display: HashMap<String, BTreeSet<Uuid>>,
    /// The users the request adds, as filters will see them.
    adding: HashMap<Uuid, (String, serde_json::Value)>,
}

impl Roster {
    /// The members of a locked group, and the users about to be added (`adding`, already
    /// resolved as live users of the tenant).
    pub async fn load(db: &impl ConnectionTrait, group: Uuid, adding: &[Uuid]) -> Result<Self, DbErr> {
        let mut roster = Self {
            members: BTreeMap::new(),
            by_display: HashMap::new(),
            adding: HashMap::new(),
        };
        for m in of_groups(db, &[group]).await?.remove(&group).unwrap_or_default() {
            roster.insert(m.user_id, &m.user_name);
        }
        if !adding.is_empty() {
            let named: Vec<(Uuid, String)> = scim_user::Entity::find()
                .select_only()
                .column(scim_user::Column::Id)
                .column(scim_user::Column::UserName)
                .filter(any(scim_user::Column::Id, adding))
                .into_tuple()
                .all(db)
                .await?;
            for (id, name) in named {
                let e = Self::element(id, &name);
                roster.adding.insert(id, (name, e));
            }
        }
        Ok(roster)
    }

    fn element(id: Uuid, user_name: &str) -> serde_json::Value {
        json!({"value": id.to_string(), "display": user_name, "type": "User"})
    }

    fn insert(&mut self, id: Uuid, user_name: &str) {
        self.members.insert(id, Self::element(id, user_name));
        self.by_display
            .entry(user_name.to_lowercase())
            .or_default()
            .insert(id);
    }

    pub fn add(&mut self, users: &[Uuid]) {
        for u in users {
            if let Some((name, _)) = self.adding.get(u).cloned() {
                self.insert(*u, &name);
            }
        }
    }

    pub fn remove(&mut self, users: &[Uuid]) {
        for u in users {
            if let Some(e) = self.members.remove(u)
                && let Some(name) = e["display"].as_str()
                && let Some(ids) = self.by_display.get_mut(&name.to_lowercase())
            {
                ids.remove(u);
            }
        }
    }

    /// The membership becomes exactly `users`.
    pub fn replace(&mut self, users: &[Uuid]) {
        self.members.clear();
        self.by_display.clear();
        self.add(users);
    }

    /// The members any of `filters` selects. `value eq` and `display eq` (what IdPs and test
    /// suites send) look their candidates up; other filters are evaluated on every member once.
    pub fn matching_any(&self, filters: &[Filter]) -> Vec<Uuid> {
        let attr = GROUP_RESOURCE.core_attr("members");
        let mut found = BTreeSet::new();
        let mut scan = Vec::new();
        for f in filters {
            match Self::candidates(self, f) {
                Some(ids) => found.extend(ids.into_iter().filter(|id| {
                    self.members
                        .get(id)
                        .is_some_and(|e| filter::matches_element(f, e, attr))
                })),
                None => scan.push(f),
            }
        }
        if !scan.is_empty() {
            found.extend(
                self.members
                    .iter()
                    .filter(|(_, e)| scan.iter().any(|f| filter::matches_element(f, e, attr)))
                    .map(|(id, _)| *id),
            );
        }
        found.into_iter().collect()
    }

    /// Every member an `eq` on `value` or `display` could match (a superset: the filter itself
    /// decides, case sensitivity included), or `None` for other filters.
    fn candidates(&self, f: &Filter) -> Option<Vec<Uuid>> {
        let Filter::Compare {
            path,
            op: filter::CompareOp::Eq,
            value: serde_json::Value::String(s),
        } = f
        else {
            return None;
        };
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        if path.attr.eq_ignore_ascii_case("value") {
            return Some(Uuid::parse_str(s).map(|id| vec![id]).unwrap_or_default());
        }
        if path.attr.eq_ignore_ascii_case("display") {
            let ids = self.by_display.get(&s.to_lowercase());
            return Some(ids.map(|i| i.iter().copied().collect()).unwrap_or_default());
        }
        None
    }
}

/// Takes a user that is being deleted (locked by the caller) out of every live group it is in,
/// in the same transaction as the user's tombstone; returns one message per group, for the
/// caller to write (the deprovisioning guard may hold them with the delete).
pub async fn remove_user(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    user: Uuid,
) -> Result<Vec<ChangeMessage>, DbErr> {
    // Raw: `update ... from` (the pairs of the user's live groups), which the builder lacks.
    let rows = txn
        .query_all_raw(stmt(
            "update scim.group_members m
                set member = false, version = m.version + 1, updated_at = greatest(now(), m.updated_at)
             from scim.groups g
             where m.user_id = $1 and m.tenant_id = $2 and m.member
               and g.id = m.group_id and g.deleted_at is null
             returning m.*",
            [user.into(), tenant.into()],
        ))
        .await?;
    Ok(messages(tenant, &returned(&rows)?))
}

/// The live pairs of `groups` whose user is live.
fn live_members(groups: &[Uuid]) -> sea_orm::Select<pair::Entity> {
    pair::Entity::find()
        .select_only()
        .inner_join(scim_user::Entity)
        .filter(scim_user::Column::DeletedAt.is_null())
        .filter(any(pair::Column::GroupId, groups))
        .filter(pair::Column::Member.into_expr())
}

/// The live members of each group, ordered by user id. Only for groups the caller already
/// found in the tenant.
pub async fn of_groups(
    db: &impl ConnectionTrait,
    groups: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Member>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<Member>> = HashMap::new();
    if groups.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Uuid, Uuid, String)> = live_members(groups)
        .column(pair::Column::GroupId)
        .column(pair::Column::UserId)
        .column(scim_user::Column::UserName)
        .order_by_asc(pair::Column::GroupId)
        .order_by_asc(pair::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    for (group_id, user_id, user_name) in rows {
        out.entry(group_id)
            .or_default()
            .push(Member { user_id, user_name });
    }
    Ok(out)
}

/// How many live members each of `groups` has (groups without members are absent): what a
/// list answer would render, known before reading a single member.
pub async fn counts(db: &impl ConnectionTrait, groups: &[Uuid]) -> Result<HashMap<Uuid, i64>, DbErr> {
    if groups.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = live_members(groups)
        .column(pair::Column::GroupId)
        .expr(Expr::col(Asterisk).count())
        .group_by(pair::Column::GroupId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The live groups of each user (one query for a whole page of users), by displayName.
pub async fn groups_of(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    users: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GroupRef>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<GroupRef>> = HashMap::new();
    if users.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Uuid, Uuid, String)> = pair::Entity::find()
        .select_only()
        .column(pair::Column::UserId)
        .column(pair::Column::GroupId)
        .column(scim_group::Column::DisplayName)
        .inner_join(scim_group::Entity)
        .filter(scim_group::Column::DeletedAt.is_null())
        .filter(any(pair::Column::UserId, users))
        .filter(pair::Column::Member.into_expr())
        .filter(scim_group::Column::TenantId.eq(tenant))
        .order_by_asc(pair::Column::UserId)
        .order_by_asc(scim_group::Column::DisplayNameKey)
        .order_by_asc(scim_group::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for (user_id, group_id, display_name) in rows {
        out.entry(user_id).or_default().push(GroupRef {
            group_id,
            display_name,
        });
    }
    Ok(out)
}
