//! A group's members, of three kinds: users (`scim.group_members`), child groups
//! (`scim.group_children`, see `nesting`), and references to neither (`member_refs`). The pair
//! tables are written through `pairs`; this module decides what each id a client sends is, and
//! reads the members back as a client sees them.
//!
//! Writers hold the group's row lock (`directory::groups::lock`), and lock the users they add
//! `FOR SHARE`; deleting a user locks it `FOR UPDATE`. So a user cannot be added to a group
//! while it is being deleted, and a deleted user's removal sees every membership committed
//! before it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};
use shared::db::stmt;
use shared::entity::{scim_group_member as pair, scim_user};
use shared::messages::ChangeMessage;
use uuid::Uuid;

use super::pairs::{self, Users};
use super::{member_refs, nesting};
use crate::scim::filter::{self, Filter};
use crate::scim::members::Sent;
use crate::scim::schema::GROUP_RESOURCE;

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    User(Uuid),
    /// A child group.
    Group(Uuid),
    /// An id that names neither a live user nor a live group of the tenant, as sent.
    Ref(String),
}

/// A member, with what a client sees of it.
#[derive(Debug, Clone)]
pub struct Member {
    pub key: Key,
    /// A user's userName, a group's displayName, or a reference's `display` as sent.
    pub display: Option<String>,
    /// A reference's `type` as sent.
    pub sent_type: Option<String>,
}

impl Member {
    /// The member as `members` lists it (RFC 7643 §4.2): users and groups with their `$ref`,
    /// references exactly as they were sent.
    pub fn render(&self, base_url: &str) -> Value {
        let mut out = match &self.key {
            Key::User(id) => json!({
                "value": id.to_string(),
                "$ref": format!("{base_url}/Users/{id}"),
                "type": "User",
            }),
            Key::Group(id) => json!({
                "value": id.to_string(),
                "$ref": format!("{base_url}/Groups/{id}"),
                "type": "Group",
            }),
            Key::Ref(value) => {
                let mut r = json!({ "value": value });
                if let Some(t) = &self.sent_type {
                    r["type"] = json!(t);
                }
                r
            }
        };
        if let Some(d) = &self.display {
            out["display"] = json!(d);
        }
        out
    }
}

/// A live group a user belongs to, directly or through child groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub group_id: Uuid,
    pub display_name: String,
    pub direct: bool,
}

/// What every id an add or a replace names turned out to be.
#[derive(Debug, Default)]
pub struct Resolved {
    members: HashMap<String, Member>,
}

/// A list of sent members, split by what they are.
#[derive(Debug, Default)]
pub struct Split {
    pub users: Vec<Uuid>,
    pub groups: Vec<Uuid>,
    pub refs: Vec<Sent>,
}

impl Resolved {
    /// `sent` by kind: users and groups sorted without duplicates, references in order.
    pub fn split(&self, sent: &[Sent]) -> Split {
        let (mut users, mut groups) = (BTreeSet::new(), BTreeSet::new());
        let mut refs = Vec::new();
        for s in sent {
            match self.members.get(&s.value).map(|m| &m.key) {
                Some(Key::User(id)) => {
                    users.insert(*id);
                }
                Some(Key::Group(id)) => {
                    groups.insert(*id);
                }
                _ => refs.push(s.clone()),
            }
        }
        Split {
            users: users.into_iter().collect(),
            groups: groups.into_iter().collect(),
            refs,
        }
    }

    /// Every child group named.
    pub fn groups(&self) -> Vec<Uuid> {
        let set: BTreeSet<Uuid> = self
            .members
            .values()
            .filter_map(|m| match m.key {
                Key::Group(id) => Some(id),
                _ => None,
            })
            .collect();
        set.into_iter().collect()
    }

    /// Every reference named.
    pub fn refs(&self) -> usize {
        self.members
            .values()
            .filter(|m| matches!(m.key, Key::Ref(_)))
            .count()
    }

    fn get(&self, value: &str) -> Option<&Member> {
        self.members.get(value)
    }
}

/// Decides what each sent member of `group` is: a live user of the tenant (locked `FOR SHARE`
/// until the transaction ends, so it cannot be deleted under the request), a live group of the
/// tenant (a child group), or a reference to keep as sent. By key, the tenant checked on the
/// rows: another tenant's user or group is a reference.
pub async fn resolve(txn: &DatabaseTransaction, tenant: Uuid, sent: &[Sent]) -> Result<Resolved, DbErr> {
    let mut resolved = Resolved::default();
    let mut ids = BTreeSet::new();
    for s in sent {
        if let Ok(id) = Uuid::parse_str(&s.value) {
            ids.insert(id);
        }
    }
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut found: HashMap<Uuid, Member> = HashMap::new();
    if !ids.is_empty() {
        // Raw: the fenced lookup of `directory::fenced` with the names it needs, `for share`.
        let users = txn
            .query_all_raw(stmt(
                "select f.id, f.user_name from (
                     select id, tenant_id, user_name from scim.users
                     where id = any($1::uuid[]) and deleted_at is null offset 0) f
                 where f.tenant_id = $2 order by f.id for share",
                [ids.clone().into(), tenant.into()],
            ))
            .await?;
        for r in users {
            let (id, name) = r.try_get_many_by_index::<(Uuid, String)>()?;
            found.insert(
                id,
                Member {
                    key: Key::User(id),
                    display: Some(name),
                    sent_type: None,
                },
            );
        }
        let rest: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains_key(id)).collect();
        if !rest.is_empty() {
            // Child groups are not locked: one deleted under the request leaves an edge its
            // tombstone hides, as it hides the deleted group's own members.
            let groups = txn
                .query_all_raw(stmt(
                    "select f.id, f.display_name from (
                         select id, tenant_id, display_name from scim.groups
                         where id = any($1::uuid[]) and deleted_at is null offset 0) f
                     where f.tenant_id = $2",
                    [rest.into(), tenant.into()],
                ))
                .await?;
            for r in groups {
                let (id, name) = r.try_get_many_by_index::<(Uuid, String)>()?;
                found.insert(
                    id,
                    Member {
                        key: Key::Group(id),
                        display: Some(name),
                        sent_type: None,
                    },
                );
            }
        }
    }
    for s in sent {
        let member = Uuid::parse_str(&s.value)
            .ok()
            .and_then(|id| found.get(&id).cloned())
            .unwrap_or_else(|| Member {
                key: Key::Ref(s.value.clone()),
                display: s.display.clone(),
                sent_type: s.kind.clone(),
            });
        resolved.members.insert(s.value.clone(), member);
    }
    Ok(resolved)
}

/// The ids among `raw` that are UUIDs, sorted, without duplicates: what a removal by id can
/// name among users and child groups (removing what is not a member succeeds: IdPs retry
/// removals, and a deleted user has already left its groups).
pub fn uuids(raw: &[String]) -> Vec<Uuid> {
    let set: BTreeSet<Uuid> = raw.iter().filter_map(|r| Uuid::parse_str(r).ok()).collect();
    set.into_iter().collect()
}

/// `col = any(ids)`: one bound array, whatever the number of ids.
fn any<C: ColumnTrait>(col: C, ids: &[Uuid]) -> Expr {
    col.into_expr().eq(PgFunc::any(Expr::val(ids.to_vec())))
}

/// A group's members as a request's operations leave them, in memory, for PATCH value filters
/// other than `value eq` (`members[display sw "a"]`; rare: IdPs remove by id). Read once per
/// request: a PATCH of a thousand filtered removals on a 10,000-member group read the whole
/// membership a thousand times under the group's lock.
pub struct Roster {
    /// Each member as a filter sees it (`value`, `display`, `type`), built once.
    members: BTreeMap<Key, Value>,
    /// Members by lower-cased `display`: `members[display eq "x"]` finds its candidates here
    /// instead of evaluating the filter on every member.
    by_display: HashMap<String, BTreeSet<Key>>,
    /// Members by `value`.
    by_value: HashMap<String, Key>,
}

impl Roster {
    /// The members of a locked group.
    pub async fn load(db: &impl ConnectionTrait, group: Uuid) -> Result<Self, DbErr> {
        let mut roster = Self {
            members: BTreeMap::new(),
            by_display: HashMap::new(),
            by_value: HashMap::new(),
        };
        for m in of_groups(db, &[group]).await?.remove(&group).unwrap_or_default() {
            roster.insert(&m);
        }
        Ok(roster)
    }

    fn value(key: &Key) -> String {
        match key {
            Key::User(id) | Key::Group(id) => id.to_string(),
            Key::Ref(v) => v.clone(),
        }
    }

    fn insert(&mut self, m: &Member) {
        let mut e = m.render("");
        if let Value::Object(o) = &mut e {
            o.remove("$ref");
        }
        if let Some(d) = &m.display {
            self.by_display
                .entry(d.to_lowercase())
                .or_default()
                .insert(m.key.clone());
        }
        self.by_value.insert(Self::value(&m.key), m.key.clone());
        self.members.insert(m.key.clone(), e);
    }

    /// Adds members the request named (as `resolved` classified them).
    pub fn add(&mut self, sent: &[Sent], resolved: &Resolved) {
        for s in sent {
            if let Some(m) = resolved.get(&s.value) {
                self.insert(&m.clone());
            }
        }
    }

    pub fn remove(&mut self, keys: &[Key]) {
        for k in keys {
            if let Some(e) = self.members.remove(k) {
                self.by_value.remove(&Self::value(k));
                if let Some(name) = e["display"].as_str()
                    && let Some(ks) = self.by_display.get_mut(&name.to_lowercase())
                {
                    ks.remove(k);
                }
            }
        }
    }

    /// Removes members by id, as a removal by value does.
    pub fn remove_values(&mut self, values: &[String]) {
        let keys: Vec<Key> = values
            .iter()
            .filter_map(|v| self.by_value.get(v).cloned())
            .collect();
        self.remove(&keys);
    }

    /// The membership becomes exactly `sent`.
    pub fn replace(&mut self, sent: &[Sent], resolved: &Resolved) {
        self.members.clear();
        self.by_display.clear();
        self.by_value.clear();
        self.add(sent, resolved);
    }

    /// The members any of `filters` selects. `value eq` and `display eq` (what IdPs and test
    /// suites send) look their candidates up; other filters are evaluated on every member once.
    pub fn matching_any(&self, filters: &[Filter]) -> Vec<Key> {
        let attr = GROUP_RESOURCE.core_attr("members");
        let mut found = BTreeSet::new();
        let mut scan = Vec::new();
        for f in filters {
            match Self::candidates(self, f) {
                Some(keys) => found.extend(keys.into_iter().filter(|k| {
                    self.members
                        .get(k)
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
                    .map(|(k, _)| k.clone()),
            );
        }
        found.into_iter().collect()
    }

    /// Every member an `eq` on `value` or `display` could match (a superset: the filter itself
    /// decides, case sensitivity included), or `None` for other filters.
    fn candidates(&self, f: &Filter) -> Option<Vec<Key>> {
        let Filter::Compare {
            path,
            op: filter::CompareOp::Eq,
            value: Value::String(s),
        } = f
        else {
            return None;
        };
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        if path.attr.eq_ignore_ascii_case("value") {
            let key = self.by_value.get(s).cloned().or_else(|| {
                Uuid::parse_str(s)
                    .ok()
                    .and_then(|id| self.by_value.get(&id.to_string()).cloned())
            });
            return Some(key.into_iter().collect());
        }
        if path.attr.eq_ignore_ascii_case("display") {
            let keys = self.by_display.get(&s.to_lowercase());
            return Some(keys.map(|k| k.iter().cloned().collect()).unwrap_or_default());
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
    let sql = format!(
        "update scim.group_members m
            set member = false, version = m.version + 1, updated_at = greatest(now(), m.updated_at)
         from scim.groups g
         where m.user_id = $1 and m.tenant_id = $2 and m.member
           and g.id = m.group_id and g.deleted_at is null
         {}, m.user_id",
        pairs::RETURNING
    );
    let rows = txn
        .query_all_raw(stmt(&sql, [user.into(), tenant.into()]))
        .await?;
    pairs::messages::<Users>(tenant, &rows)
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

/// The members of each group: its live users by id, then its live child groups by id, then the
/// references it keeps by value. Only for groups the caller already found in the tenant.
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
        out.entry(group_id).or_default().push(Member {
            key: Key::User(user_id),
            display: Some(user_name),
            sent_type: None,
        });
    }
    for more in [
        nesting::of_groups(db, groups).await?,
        member_refs::of_groups(db, groups).await?,
    ] {
        for (group, members) in more {
            out.entry(group).or_default().extend(members);
        }
    }
    Ok(out)
}

/// How many members each of `groups` has, of every kind (groups without members are absent):
/// what a list answer would render, known before reading a single member.
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
    let mut out: HashMap<Uuid, i64> = rows.into_iter().collect();
    for more in [
        nesting::counts(db, groups).await?,
        member_refs::counts(db, groups).await?,
    ] {
        for (group, n) in more {
            *out.entry(group).or_default() += n;
        }
    }
    Ok(out)
}

/// A user's live groups as a jsonb array of `[id, displayName, direct]` by displayName then id
/// (null when there are none): the groups it is a member of (`direct`), and the groups those
/// are child groups of, at any depth (RFC 7643 §4.1.2: `"type": "indirect"`). A correlated
/// subquery over a row of `scim.users`, so that a page of users reads its groups in the same
/// statement ([`crate::directory::page`]'s `attach`). The walk goes up the live child-group
/// edges; `union` stops at groups reached twice, and the direct groups are those reached at
/// depth 0. The groups must be of the user's tenant. The text has no values: a text with values
/// is tokenized at every build, which was 2% of the api's CPU per lookup.
pub fn groups_column() -> Expr {
    Expr::cust(
        r#"(select jsonb_agg(jsonb_build_array(x.group_id, x.display_name, x.direct)
                    order by x.display_name_key, x.group_id)
            from (
                with recursive up(group_id, depth) as (
                    select m.group_id, 0
                    from scim.group_members m
                    join scim.groups g on g.id = m.group_id and g.deleted_at is null and g.tenant_id = "users"."tenant_id"
                    where m.user_id = "users"."id" and m.member
                    union
                    select e.group_id, 1
                    from up
                    join scim.group_children e on e.child_id = up.group_id and e.member
                    join scim.groups g on g.id = e.group_id and g.deleted_at is null
                )
                select up.group_id, g.display_name, g.display_name_key, min(up.depth) = 0 as direct
                from up join scim.groups g on g.id = up.group_id
                group by up.group_id, g.display_name, g.display_name_key
            ) x)"#,
    )
}

/// The groups [`groups_column`] read for each user (users in no group are absent).
pub fn groups_by_user(
    columns: impl IntoIterator<Item = (Uuid, Option<Value>)>,
) -> Result<HashMap<Uuid, Vec<GroupRef>>, DbErr> {
    let mut out = HashMap::new();
    for (user, column) in columns {
        let Some(column) = column else { continue };
        let rows: Vec<(Uuid, String, bool)> =
            serde_json::from_value(column).map_err(|e| DbErr::Json(format!("a user's groups: {e}")))?;
        let groups = rows
            .into_iter()
            .map(|(group_id, display_name, direct)| GroupRef {
                group_id,
                display_name,
                direct,
            })
            .collect();
        out.insert(user, groups);
    }
    Ok(out)
}

/// The live groups of each of `users` ([`groups_column`]; users without groups are absent).
pub async fn groups_of(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    users: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GroupRef>>, DbErr> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Option<Value>)> = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::Id)
        .expr(groups_column())
        .filter(scim_user::Column::TenantId.eq(tenant))
        .filter(Expr::col(scim_user::Column::Id).eq(PgFunc::any(Expr::val(users.to_vec()))))
        .into_tuple()
        .all(db)
        .await?;
    groups_by_user(rows)
}
