//! Translates a parsed SCIM filter on Groups into a SQL condition over `scim.groups g`, so
//! filtering happens in Postgres. `displayName` compares case-insensitively on the folded key
//! (the unique index serves `eq`); `members` comparisons become an `exists` over each kind of
//! the group's live members (users, child groups, references kept as sent), so
//! `members[value eq "<id>"]` is three index lookups, whatever the group's size. Values are
//! always bound parameters.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query as Sql};
use sea_orm::{ColumnTrait, EntityName};
use serde_json::Value;
use shared::entity::{
    scim_group, scim_group_child as child, scim_group_member as member, scim_group_member_ref as reference,
    scim_user,
};

use super::Scope;
use super::filter_sql::{
    and, display, exists, expect_str, not, or, text_compare, timestamp_compare, truth, unsupported,
    uuid_compare,
};
use crate::scim::filter::{AttrPath, CompareOp, Filter};
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::{Invalid, group, user};

/// The condition on `scim.groups` a filter becomes.
pub fn to_sql(filter: &Filter, scope: Scope) -> Result<Expr, Invalid> {
    condition(scope, filter)
}

/// Where an attribute lives (shared with sorting, `sort_sql`).
pub(super) enum Target {
    Id,
    DisplayName,
    ExternalId,
    Timestamp(scim_group::Column),
    /// `members` (its `value` by default), or one of its sub-attributes.
    Member(MemberSub),
}

#[derive(Clone, Copy)]
pub(super) enum MemberSub {
    Value,
    Display,
    Type,
}

/// A column of `scim.groups`, qualified (member conditions refer to it from a subquery).
pub(super) fn col(c: scim_group::Column) -> Expr {
    Expr::col((scim_group::Entity, c))
}

/// The kinds of member a group has; a member condition is built for each.
#[derive(Clone, Copy)]
enum Kind {
    User,
    /// A child group, joined as `child` (the outer query's group is `groups`).
    Group,
    /// A reference kept as sent.
    Ref,
}

const KINDS: [Kind; 3] = [Kind::User, Kind::Group, Kind::Ref];

fn child_group() -> Alias {
    Alias::new("child")
}

/// Whether the group under test has a live member of any kind for which `cond` (built for each
/// kind) holds: a user membership and its live user, a child group edge and its live group, or a
/// reference.
fn members_exist(cond: impl Fn(Kind) -> Result<Expr, Invalid>) -> Result<Expr, Invalid> {
    let mut any: Option<Expr> = None;
    for kind in KINDS {
        let one = exists(members_of(kind).and_where(cond(kind)?).to_owned());
        any = Some(match any {
            None => one,
            Some(a) => a.or(one),
        });
    }
    Ok(any.unwrap_or_else(|| truth(false)))
}

/// The live members of one kind of the group under test.
fn members_of(kind: Kind) -> sea_orm::sea_query::SelectStatement {
    let group_id = || Expr::col((scim_group::Entity, scim_group::Column::Id));
    match kind {
        Kind::User => Sql::select()
            .from(member::Entity.table_ref())
            .inner_join(
                scim_user::Entity.table_ref(),
                scim_user::Column::Id
                    .into_expr()
                    .equals((member::Entity, member::Column::UserId))
                    .and(scim_user::Column::DeletedAt.is_null()),
            )
            .and_where(Expr::col((member::Entity, member::Column::GroupId)).eq(group_id()))
            .and_where(member::Column::Member.into_expr())
            .to_owned(),
        Kind::Group => Sql::select()
            .from(child::Entity.table_ref())
            .join_as(
                JoinType::InnerJoin,
                scim_group::Entity.table_ref(),
                child_group(),
                Expr::col((child_group(), scim_group::Column::Id))
                    .equals((child::Entity, child::Column::ChildId))
                    .and(Expr::col((child_group(), scim_group::Column::DeletedAt)).is_null()),
            )
            .and_where(Expr::col((child::Entity, child::Column::GroupId)).eq(group_id()))
            .and_where(Expr::col((child::Entity, child::Column::Member)))
            .to_owned(),
        Kind::Ref => Sql::select()
            .from(reference::Entity.table_ref())
            .and_where(Expr::col((reference::Entity, reference::Column::GroupId)).eq(group_id()))
            .to_owned(),
    }
}

fn condition(scope: Scope, f: &Filter) -> Result<Expr, Invalid> {
    Ok(match f {
        Filter::And(a, b) => and(condition(scope, a)?, condition(scope, b)?),
        Filter::Or(a, b) => or(condition(scope, a)?, condition(scope, b)?),
        Filter::Not(a) => not(condition(scope, a)?),
        Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. }
            if scope == Scope::AllTypes && !GROUP_RESOURCE.knows(path.urn.as_deref(), &path.attr) =>
        {
            truth(false)
        }
        Filter::Present(path) => match target(path)? {
            Target::Id | Target::DisplayName | Target::Timestamp(_) => truth(true),
            Target::ExternalId => col(scim_group::Column::ExternalId)
                .is_not_null()
                .and(col(scim_group::Column::ExternalId).ne("")),
            Target::Member(_) => members_exist(|_| Ok(truth(true)))?,
        },
        Filter::Compare { path, op, value } => {
            let shown = display(path);
            match target(path)? {
                Target::Id => uuid_compare(col(scim_group::Column::Id), *op, value, &shown)?,
                Target::DisplayName => {
                    let folded = group::fold(expect_str(value, &shown)?);
                    text_compare(col(scim_group::Column::DisplayNameKey), *op, &folded, true)?
                }
                Target::ExternalId => {
                    let s = expect_str(value, &shown)?;
                    text_compare(col(scim_group::Column::ExternalId), *op, s, true)?
                }
                Target::Timestamp(c) => timestamp_compare(col(c), *op, value, &shown)?,
                Target::Member(sub) => {
                    let any = members_exist(|kind| member_compare(kind, sub, *op, value, &shown))?;
                    // Each member is compared on its own; a group without members has
                    // `members` unassigned, and `ne` holds for it (RFC 7643 §2.5).
                    match op {
                        CompareOp::Ne => members_exist(|_| Ok(truth(true)))?.not().or(any),
                        _ => any,
                    }
                }
            }
        }
        Filter::ValuePath { path, filter } => match target(&AttrPath {
            sub: None,
            ..path.clone()
        })? {
            Target::Member(_) => members_exist(|kind| element(kind, filter))?,
            _ => {
                return Err(unsupported(format!(
                    "'{}[...]' needs a multi-valued attribute",
                    display(path)
                )));
            }
        },
    })
}

/// The folded key when the whole filter is `displayName eq "x"`: the lookup an IdP makes before
/// creating a group, which `groups::list` answers through the key-first index.
pub fn display_name_eq(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } if matches!(target(path), Ok(Target::DisplayName)) => Some(group::fold(s)),
        _ => None,
    }
}

pub(super) fn target(path: &AttrPath) -> Result<Target, Invalid> {
    let shown = display(path);
    let unknown = || unsupported(format!("unknown attribute '{shown}'"));
    if path
        .urn
        .as_deref()
        .is_some_and(|u| !GROUP_RESOURCE.is_core_urn(u))
    {
        return Err(unknown());
    }
    let attr = GROUP_RESOURCE.core_attr(&path.attr).ok_or_else(unknown)?;
    let sub = path.sub.as_deref();
    match (attr.name, sub) {
        ("id", None) => Ok(Target::Id),
        ("displayName", None) => Ok(Target::DisplayName),
        ("externalId", None) => Ok(Target::ExternalId),
        ("meta", Some(s)) if s.eq_ignore_ascii_case("created") => {
            Ok(Target::Timestamp(scim_group::Column::CreatedAt))
        }
        ("meta", Some(s)) if s.eq_ignore_ascii_case("lastModified") => {
            Ok(Target::Timestamp(scim_group::Column::UpdatedAt))
        }
        ("meta", _) => Err(unsupported(format!("'{shown}' cannot be filtered or sorted on"))),
        ("members", None) => Ok(Target::Member(MemberSub::Value)),
        ("members", Some(s)) => member_sub(s).map(Target::Member).ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

fn member_sub(name: &str) -> Option<MemberSub> {
    [
        ("value", MemberSub::Value),
        ("display", MemberSub::Display),
        ("type", MemberSub::Type),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, s)| s)
}

/// One member of a kind compared. A user: `value` is its id, `display` its userName
/// (case-insensitive, as userNames are), `type` "User". A child group: its id, its displayName
/// (case-insensitive), "Group". A reference: its value exactly as sent (ids are caseExact), and
/// its `display` and `type` as sent, case-insensitively; one sent without them has none.
fn member_compare(
    kind: Kind,
    sub: MemberSub,
    op: CompareOp,
    value: &Value,
    shown: &str,
) -> Result<Expr, Invalid> {
    let lowered = |s: &str| s.to_lowercase();
    match (kind, sub) {
        (Kind::User, MemberSub::Value) => uuid_compare(member::Column::UserId.into_expr(), op, value, shown),
        (Kind::User, MemberSub::Display) => {
            let folded = user::fold(expect_str(value, shown)?);
            text_compare(scim_user::Column::UserNameKey.into_expr(), op, &folded, true)
        }
        (Kind::User, MemberSub::Type) => text_compare(
            Expr::cust("'user'"),
            op,
            &lowered(expect_str(value, shown)?),
            true,
        ),
        (Kind::Group, MemberSub::Value) => uuid_compare(
            Expr::col((child::Entity, child::Column::ChildId)),
            op,
            value,
            shown,
        ),
        (Kind::Group, MemberSub::Display) => {
            let folded = group::fold(expect_str(value, shown)?);
            text_compare(
                Expr::col((child_group(), scim_group::Column::DisplayNameKey)),
                op,
                &folded,
                true,
            )
        }
        (Kind::Group, MemberSub::Type) => text_compare(
            Expr::cust("'group'"),
            op,
            &lowered(expect_str(value, shown)?),
            true,
        ),
        (Kind::Ref, MemberSub::Value) => {
            let s = expect_str(value, shown)?;
            text_compare(
                Expr::col((reference::Entity, reference::Column::Value)),
                op,
                s,
                true,
            )
        }
        (Kind::Ref, MemberSub::Display | MemberSub::Type) => {
            let col = match sub {
                MemberSub::Display => reference::Column::Display,
                _ => reference::Column::Type,
            };
            let lower: Expr = Func::lower(Expr::col((reference::Entity, col))).into();
            text_compare(lower, op, &lowered(expect_str(value, shown)?), true)
        }
    }
}

/// A filter inside `members[...]`, for members of one kind: its paths name sub-attributes of
/// each member.
fn element(kind: Kind, f: &Filter) -> Result<Expr, Invalid> {
    let sub = |path: &AttrPath| {
        member_sub(&path.attr)
            .filter(|_| path.sub.is_none() && path.urn.is_none())
            .ok_or_else(|| unsupported(format!("'members' has no sub-attribute '{}'", display(path))))
    };
    Ok(match f {
        Filter::And(a, b) => and(element(kind, a)?, element(kind, b)?),
        Filter::Or(a, b) => or(element(kind, a)?, element(kind, b)?),
        Filter::Not(a) => not(element(kind, a)?),
        Filter::Present(path) => {
            sub(path)?;
            truth(true)
        }
        Filter::Compare { path, op, value } => member_compare(kind, sub(path)?, *op, value, &display(path))?,
        Filter::ValuePath { .. } => return Err(unsupported("value filters cannot be nested".into())),
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    use super::*;
    use crate::scim::Kind;
    use crate::scim::filter::parse;

    /// The condition as Postgres receives it, and how many values it binds.
    fn rendered(cond: Expr) -> (String, usize) {
        let (sql, values) = Query::select().expr(cond).build(PostgresQueryBuilder);
        (sql.trim_start_matches("SELECT ").to_owned(), values.0.len())
    }

    fn sql(f: &str) -> Result<(String, usize), Invalid> {
        Ok(rendered(to_sql(&parse(f)?, Scope::OneType)?))
    }

    #[test]
    fn display_name_eq_compares_the_folded_key() {
        let (s, n) = sql("displayName eq \"Engineering\"").expect("supported");
        assert_eq!(s, r#""groups"."display_name_key" = $1"#);
        assert_eq!(n, 1);
    }

    #[test]
    fn member_value_filters_are_an_exists_over_each_kind_of_member() {
        let id = uuid::Uuid::now_v7();
        for f in [
            format!("members.value eq \"{id}\""),
            format!("members[value eq \"{id}\"]"),
            format!("members eq \"{id}\""),
        ] {
            let (s, n) = sql(&f).expect("supported");
            assert!(
                s.starts_with(r#"EXISTS(SELECT 1 FROM "scim"."group_members" INNER JOIN "scim"."users""#),
                "{s}"
            );
            assert!(
                s.contains(r#""group_members"."group_id" = "groups"."id" AND "group_members"."member" AND "group_members"."user_id" = $1"#),
                "{s}"
            );
            assert!(
                s.contains(r#""group_children"."group_id" = "groups"."id" AND "group_children"."member" AND "group_children"."child_id" = $2"#),
                "{s}"
            );
            assert!(
                s.ends_with(
                    r#""group_member_refs"."group_id" = "groups"."id" AND "group_member_refs"."value" = $3)"#
                ),
                "{s}"
            );
            assert_eq!(n, 3);
        }
    }

    #[test]
    fn a_member_value_that_is_not_a_uuid_can_only_be_a_reference() {
        let (s, n) = sql("members[value eq \"nobody\"]").expect("supported");
        assert!(s.contains(r#""group_members"."member" AND FALSE)"#), "{s}");
        assert!(s.contains(r#""group_children"."member" AND FALSE)"#), "{s}");
        assert!(s.ends_with(r#""group_member_refs"."value" = $1)"#), "{s}");
        assert_eq!(n, 1);
    }

    #[test]
    fn ids_external_ids_and_meta_dates_are_columns() {
        assert!(sql("externalId eq \"x\" and meta.lastModified gt \"2024-01-01T00:00:00Z\"").is_ok());
        assert_eq!(sql("id eq \"not-a-uuid\"").expect("supported").0, "FALSE");
    }

    #[test]
    fn across_types_a_user_attribute_matches_no_group() {
        let f = parse("userName eq \"a\" or displayName eq \"G\"").expect("parses");
        let (s, _) = rendered(to_sql(&f, Scope::AllTypes).expect("supported"));
        assert_eq!(s, r#"FALSE OR "groups"."display_name_key" = $1"#);
        // A group attribute with a bad sub-attribute is still an error.
        let f = parse("members.foo eq \"x\"").expect("parses");
        assert!(to_sql(&f, Scope::AllTypes).is_err());
    }

    #[test]
    fn unknown_attributes_are_invalid_filters() {
        for f in [
            "userName eq \"x\"",
            "members.foo eq \"x\"",
            "meta.version eq \"x\"",
            "members[foo eq \"x\"]",
        ] {
            assert_eq!(sql(f).expect_err(f).kind, Kind::InvalidFilter, "{f}");
        }
    }
}
