//! The SCIM directory in Postgres (`scim` schema). Every write goes through here, together with
//! its outbox row, in one transaction.

pub mod bounded;
pub mod filter_cost;
pub mod filter_sql;
pub mod group_filter;
pub mod groups;
pub mod memberships;
pub mod sort_sql;
pub mod user_filter;
pub mod users;

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use shared::db::stmt;

use crate::scim::filter::Filter;
use crate::scim::sort::Sort;

/// The rows of one page of `select {columns} {base} order by {order}` and the total count of
/// `base`. The page is read first: when it is not full, its own length gives the total and the
/// count query is skipped. That is every lookup an IdP makes (`userName eq` finds one user or
/// none), which then costs one statement instead of two.
pub async fn page(
    db: &impl ConnectionTrait,
    q: &Query<'_>,
    columns: &str,
    base: &str,
    order: &str,
    values: Vec<Value>,
) -> Result<(i64, Vec<QueryResult>), DbErr> {
    let count = |values: Vec<Value>| async move {
        let row = db
            .query_one_raw(stmt(&format!("select count(*) as n {base}"), values))
            .await?;
        row.map_or(Ok(0), |r| r.try_get::<i64>("", "n"))
    };
    if q.limit == 0 {
        return Ok((count(values).await?, Vec::new()));
    }
    let n = values.len();
    let mut paged = values.clone();
    paged.push(q.limit.into());
    paged.push(q.offset.into());
    let rows = db
        .query_all_raw(stmt(
            &format!(
                "select {columns} {base} order by {order} limit ${} offset ${}",
                n + 1,
                n + 2
            ),
            paged,
        ))
        .await?;
    let last_page = (rows.len() as i64) < q.limit && (q.offset == 0 || !rows.is_empty());
    let total = if last_page {
        q.offset + rows.len() as i64
    } else {
        count(values).await?
    };
    Ok((total, rows))
}

/// SQL for the id `$2` if that row of `table` belongs to tenant `$1`, else null; compare a
/// primary key with it (`where id = {in_tenant(..)}`). The row is found by its key alone and the
/// tenant checked on it: with both in one WHERE, the planner may walk the tenant's index instead,
/// which it judges just as cheap while its statistics still show the tenant as small. A new
/// tenant's import is exactly that case, and each lookup then read the whole tenant (8 ms after
/// 4,500 users instead of 0.05). The fence (`offset 0`) keeps the tenant test out of the lookup.
pub fn in_tenant(table: &str) -> String {
    format!(
        "(select r.id from (select id, tenant_id from {table} where id = $2 offset 0) r where r.tenant_id = $1)"
    )
}

/// SQL for the id of tenant `$1`'s live row of `table` whose unique `key` column equals `$2`,
/// else null: the lookup an IdP makes before every create (`userName eq "x"`,
/// `displayName eq "x"`). Fenced like [`in_tenant`] and for the same reason (the generic filter
/// query walked the tenant's creation-order index, 30 ms per lookup after 2,000 users); the
/// key-first unique index `(key, tenant_id)` answers the inner query and no other index can.
pub fn by_key(table: &str, key: &str) -> String {
    format!(
        "(select r.id from (select id, tenant_id from {table} where {key} = $2 and deleted_at is null offset 0) r where r.tenant_id = $1)"
    )
}

/// Which of a tenant's live rows a list reads.
pub enum Selection {
    /// All of them.
    All,
    /// The one whose unique key (folded) is this: the IdP's lookup, answered by [`by_key`].
    Key(String),
    /// Those matching a filter's SQL condition, whose values start at `$2`.
    Filter(filter_sql::SqlFilter),
}

/// The `from ... where ...` of a list over `table` (`alias`, the prefix of its columns in a
/// filter's SQL, may be empty) and its values, `$1` being the tenant.
pub fn selection_sql(
    table: &str,
    alias: &str,
    key: &str,
    tenant: uuid::Uuid,
    sel: Selection,
) -> (String, Vec<Value>) {
    let p = if alias.is_empty() {
        String::new()
    } else {
        format!("{alias}.")
    };
    let live = format!("from {table} {alias} where {p}deleted_at is null");
    match sel {
        Selection::All => (format!("{live} and {p}tenant_id = $1"), vec![tenant.into()]),
        Selection::Key(k) => (
            format!("{live} and {p}id = {}", by_key(table, key)),
            vec![tenant.into(), k.into()],
        ),
        Selection::Filter(f) => {
            let mut values = vec![tenant.into()];
            values.extend(f.values);
            (format!("{live} and {p}tenant_id = $1 and {}", f.sql), values)
        }
    }
}

/// One page of a list or search: which resources, in which order, which slice.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub filter: Option<&'a Filter>,
    pub sort: Option<&'a Sort>,
    pub scope: Scope,
    pub offset: i64,
    pub limit: i64,
}

/// Attributes of Users whose `eq` is one index lookup.
pub const USER_KEYS: &[&str] = &["id", "userName", "externalId"];
/// Attributes of Groups whose `eq` is one index lookup.
pub const GROUP_KEYS: &[&str] = &["id", "displayName"];

impl Query<'_> {
    /// Refuses a filter that asks for more work than a request may cause (`filter_cost`).
    pub fn check_cost(&self) -> Result<(), crate::scim::Invalid> {
        self.filter.map_or(Ok(()), filter_cost::check)
    }

    /// Whether Postgres may have to read many of the tenant's rows: any filter but one `eq` on
    /// an indexed attribute (`keys`), or a sort. Such reads run bounded (`bounded`).
    pub fn is_expensive(&self, keys: &[&str]) -> bool {
        let lookup = |f: &Filter| {
            matches!(f, Filter::Compare { path, op: crate::scim::filter::CompareOp::Eq, .. }
                if path.sub.is_none() && keys.iter().any(|k| k.eq_ignore_ascii_case(&path.attr)))
        };
        self.sort.is_some() || self.filter.is_some_and(|f| !lookup(f))
    }
}

/// The endpoint a query runs for, which decides what an attribute the resource type does not
/// have means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/Users`, `/Groups` and their `.search`: such an attribute is a client error.
    OneType,
    /// The root `/.search` over every type: it matches nothing in this type (another type may
    /// have it; `scim::search` refuses attributes that no type has).
    AllTypes,
}
