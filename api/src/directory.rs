//! The SCIM directory in Postgres (`scim` schema). Every write goes through here, together with
//! its outbox row, in one transaction.

pub mod bounded;
pub mod filter_cost;
pub mod filter_sql;
pub mod group_filter;
pub mod groups;
pub mod member_refs;
pub mod memberships;
pub mod nesting;
pub mod pairs;
pub mod resource;
pub mod sort_sql;
pub mod user_batch;
pub mod user_filter;
pub mod users;

use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Query as Sql, SelectStatement, SubQueryStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityName, EntityTrait, FromQueryResult, QueryFilter, QueryResult,
    QuerySelect, QueryTrait, Select,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ScimError;
use crate::scim::cursor::{Position, invalid_cursor};
use crate::scim::filter::Filter;
use crate::scim::sort::Sort;

/// One page of rows, the total count of the list, and where a cursor walk goes on from them.
pub struct Rows<M> {
    pub total: i64,
    pub rows: Vec<M>,
    pub rest: Continuation,
}

impl<M> Rows<M> {
    pub fn map<N>(self, f: impl FnMut(M) -> N) -> Rows<N> {
        Rows {
            total: self.total,
            rows: self.rows.into_iter().map(f).collect(),
            rest: self.rest,
        }
    }
}

/// Where a cursor walk (RFC 9865) continues after a page: each row's position in the list's
/// order, and whether rows follow the page. Empty when paging by index.
#[derive(Debug, Default)]
pub struct Continuation {
    positions: Vec<Position>,
    more: bool,
}

impl Continuation {
    /// The position to resume from when the first `kept` rows of the page are answered (a page
    /// may end early, see `routes::groups`); `None` when nothing follows them. Empty when rows
    /// follow but none was kept (a page of no rows, read to learn whether any follow): resume
    /// from the start.
    pub fn after(mut self, kept: usize) -> Option<Position> {
        if kept >= self.positions.len() && !self.more {
            return None;
        }
        self.positions.truncate(kept);
        Some(self.positions.pop().unwrap_or_default())
    }
}

/// A row read with its position in the list's order ([`sort_sql::Order::position`]).
struct Positioned<M> {
    model: M,
    position: Value,
}

/// The column a row's position is read into.
const POSITION: &str = "cursor_position";

/// A row read with the value of an `attach` expression over it ([`page`]).
pub(crate) struct Attached<M> {
    pub model: M,
    pub attached: Option<Value>,
}

/// The column an attached value is read into (null when nothing is attached).
pub(crate) const ATTACHED: &str = "attached";

impl<M: FromQueryResult> FromQueryResult for Attached<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(res, pre)?,
            attached: res.try_get(pre, ATTACHED)?,
        })
    }
}

impl<M: FromQueryResult> FromQueryResult for Positioned<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(res, pre)?,
            position: res.try_get(pre, POSITION)?,
        })
    }
}

/// The models of one page of `base` in `order` and the total count of `base`. The page is read
/// first: when it is not full, its own length gives the total and the count query is skipped.
/// That is every lookup an IdP makes (`userName eq` finds one user or none), which then costs
/// one statement instead of two.
///
/// With a cursor (`q.seek`), the page is the rows after the cursor's position in `order` (a
/// keyset read: resources created or deleted meanwhile do not shift it), and one row more is
/// read to know whether another page follows. The total is still the whole list's.
///
/// `lookup` says the page is a lookup by unique key on its first page (`userName eq`, the IdP's
/// read before every create). Its statement then has no OFFSET clause: with `OFFSET $n`
/// Postgres costs the generic plan higher and plans every execution anew, while a lookup's
/// plan is the same whatever its values and can be kept. (Other lists keep `OFFSET $n` and
/// with it the per-execution planning, which suits filters whose best plan depends on the
/// tenant.)
///
/// `attach`, only on a lookup, is a jsonb expression over each row (a correlated subquery),
/// read beside it: what the answer shows from other tables comes in the same statement, not a
/// second round trip. Postgres evaluates it after any sort, but for every row an OFFSET skips as
/// well (the subquery ran 50,100 times for `limit 100 offset 50000`), and planning it took
/// 0.5-0.7 ms against 0.03 ms to run it: hence only where there is neither.
pub async fn page<E: EntityTrait>(
    db: &impl ConnectionTrait,
    q: &Query<'_>,
    base: Select<E>,
    order: sort_sql::Order,
    lookup: bool,
    attach: Option<Expr>,
) -> Result<Rows<(E::Model, Option<Value>)>, ScimError> {
    debug_assert!(
        attach.is_none() || lookup,
        "attached to a page that is not a lookup"
    );
    let lookup = lookup && q.offset == 0;
    let attach = attach
        .filter(|_| lookup)
        .unwrap_or_else(|| Expr::cust("null::jsonb"));
    let count = |base: Select<E>| async move {
        let mut counted = base.into_query();
        counted.clear_selects().expr(Expr::col(Asterisk).count());
        let row = db.query_one(&counted).await?;
        row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))
    };
    let limit = u64::try_from(q.limit).unwrap_or(0);
    let Some(seek) = q.seek else {
        if q.limit == 0 {
            return Ok(Rows {
                total: count(base).await?,
                rows: Vec::new(),
                rest: Continuation::default(),
            });
        }
        let mut select = order.apply(base.clone().expr_as(attach, ATTACHED)).limit(limit);
        if !lookup {
            select = select.offset(u64::try_from(q.offset).unwrap_or(0));
        }
        let rows: Vec<_> = select
            .into_model::<Attached<E::Model>>()
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.model, a.attached))
            .collect();
        let last_page = (rows.len() as i64) < q.limit && (q.offset == 0 || !rows.is_empty());
        let total = if last_page {
            q.offset + rows.len() as i64
        } else {
            count(base).await?
        };
        return Ok(Rows {
            total,
            rows,
            rest: Continuation::default(),
        });
    };
    let mut select = base
        .clone()
        .expr_as(order.position(), POSITION)
        .expr_as(attach, ATTACHED);
    if let Seek::After(position) = seek {
        select = select.filter(order.after(position).ok_or_else(invalid_cursor)?);
    }
    let mut read = order
        .apply(select)
        .limit(limit + 1)
        .into_model::<Positioned<Attached<E::Model>>>()
        .all(db)
        .await
        .map_err(|e| match shared::db::sqlstate(&e).as_deref() {
            // A position value its key's type cannot read: a cursor written by hand.
            Some("22P02" | "22007" | "22008" | "22003") if matches!(seek, Seek::After(_)) => {
                ScimError::from(invalid_cursor())
            }
            _ => ScimError::from(e),
        })?;
    let more = read.len() as u64 > limit;
    read.truncate(q.limit as usize);
    let total = if matches!(seek, Seek::Start) && !more {
        read.len() as i64
    } else {
        count(base).await?
    };
    let (rows, positions) = read
        .into_iter()
        .map(|p| {
            let position = serde_json::from_value(p.position).map_err(|e| DbErr::Json(e.to_string()))?;
            Ok::<_, DbErr>(((p.model.model, p.model.attached), position))
        })
        .collect::<Result<(Vec<_>, Vec<_>), _>>()?;
    Ok(Rows {
        total,
        rows,
        rest: Continuation { positions, more },
    })
}

/// The id `id` if that row of `R` belongs to `tenant`, else null; compare a primary key with it
/// (`id.eq(in_tenant(..))`). The row is found by its key alone and the tenant checked on it:
/// with both in one WHERE, the planner may walk the tenant's index instead, which it judges just
/// as cheap while its statistics still show the tenant as small. A new tenant's import is
/// exactly that case, and each lookup then read the whole tenant (8 ms after 4,500 users instead
/// of 0.05). The fence (`offset 0`) keeps the tenant test out of the lookup.
pub fn in_tenant<R: resource::Table>(tenant: Uuid, id: Uuid) -> Expr {
    subquery(fenced::<R>(tenant, R::ID.eq(id)))
}

/// The id of `tenant`'s live row of `R` whose unique key column equals `key`, else null: the
/// lookup an IdP makes before every create (`userName eq "x"`, `displayName eq "x"`). Fenced
/// like [`in_tenant`] and for the same reason (the generic filter query walked the tenant's
/// creation-order index, 30 ms per lookup after 2,000 users); the key-first unique index
/// `(key, tenant_id)` answers the inner query and no other index can.
pub fn by_key<R: resource::Table>(tenant: Uuid, key: String) -> Expr {
    subquery(fenced::<R>(tenant, R::KEY.eq(key).and(R::DELETED_AT.is_null())))
}

/// The alias of a fenced lookup's rows.
const FENCE: &str = "r";

/// `select r.id from (select id, tenant_id from R where {lookup} offset 0) r where r.tenant_id =
/// tenant`: the planner does not pull a subquery with an OFFSET up into its parent, so `lookup`
/// is planned on its own (see [`in_tenant`]).
pub fn fenced<R: resource::Table>(tenant: Uuid, lookup: Expr) -> SelectStatement {
    let inner = Sql::select()
        .column(R::ID)
        .column(R::TENANT)
        .from(R::Entity::default().table_ref())
        .and_where(lookup)
        .offset(0)
        .to_owned();
    Sql::select()
        .expr(fenced_id::<R>())
        .from_subquery(inner, Alias::new(FENCE))
        .and_where(Expr::col((Alias::new(FENCE), R::TENANT)).eq(tenant))
        .to_owned()
}

/// The id a [`fenced`] lookup selects.
pub fn fenced_id<R: resource::Table>() -> Expr {
    Expr::col((Alias::new(FENCE), R::ID))
}

fn subquery(select: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(select)))
}

/// Which of a tenant's live rows a list reads.
pub enum Selection {
    /// All of them.
    All,
    /// The one whose unique key (folded) is this: the IdP's lookup, answered by [`by_key`].
    Key(String),
    /// Those matching a filter's condition.
    Filter(Expr),
}

/// The live rows of `R` a list reads, before ordering and paging.
pub fn selection<R: resource::Table>(tenant: Uuid, sel: Selection) -> Select<R::Entity> {
    let live = R::Entity::find().filter(R::DELETED_AT.is_null());
    match sel {
        Selection::All => live.filter(R::TENANT.eq(tenant)),
        Selection::Key(k) => live.filter(R::ID.into_expr().eq(by_key::<R>(tenant, k))),
        Selection::Filter(f) => live.filter(R::TENANT.eq(tenant)).filter(f),
    }
}

/// One page of a list or search: which resources, in which order, which slice.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub filter: Option<&'a Filter>,
    pub sort: Option<&'a Sort>,
    pub scope: Scope,
    /// Rows skipped when paging by index; 0 with a cursor.
    pub offset: i64,
    pub limit: i64,
    /// Paging by cursor (RFC 9865): where the walk resumes. `None` pages by index.
    pub seek: Option<Seek<'a>>,
}

/// Where a cursor walk resumes.
#[derive(Debug, Clone, Copy)]
pub enum Seek<'a> {
    /// The first page.
    Start,
    /// After the row at this position in the list's order.
    After(&'a [Option<String>]),
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

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait};

    use super::users::Users;
    use super::*;

    fn continuation(n: usize, more: bool) -> Continuation {
        Continuation {
            positions: (0..n).map(|i| vec![Some(i.to_string())]).collect(),
            more,
        }
    }

    #[test]
    fn a_walk_resumes_after_the_last_row_answered_while_rows_follow() {
        // A full page with more behind it, and one that ended early (a group page over its
        // member budget): both resume after the last row kept.
        assert_eq!(continuation(3, true).after(3), Some(vec![Some("2".into())]));
        assert_eq!(continuation(3, false).after(2), Some(vec![Some("1".into())]));
        // The last page: nothing follows.
        assert_eq!(continuation(3, false).after(3), None);
        assert_eq!(continuation(0, false).after(0), None);
        // No row kept but rows follow: resume from the start.
        assert_eq!(continuation(0, true).after(0), Some(Vec::new()));
    }

    #[test]
    fn the_key_lookup_keeps_its_planner_fence() {
        let tenant = Uuid::now_v7();
        let sql = selection::<Users>(tenant, Selection::Key("bjensen".into()))
            .build(DbBackend::Postgres)
            .sql;
        println!("{sql}");
        assert!(
            sql.ends_with(
                r#"WHERE "users"."deleted_at" IS NULL AND "users"."id" = (SELECT "r"."id" FROM (SELECT "id", "tenant_id" FROM "scim"."users" WHERE "users"."user_name_key" = $1 AND "users"."deleted_at" IS NULL OFFSET $2) AS "r" WHERE "r"."tenant_id" = $3)"#
            ),
            "{sql}"
        );
    }
}
