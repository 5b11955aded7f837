//! Translates a parsed SCIM filter on Groups into a SQL condition over `scim.groups g`, so
//! filtering happens in Postgres. `displayName` compares case-insensitively on the folded key
//! (the unique index serves `eq`); `members` comparisons become an `exists` over the group's
//! live membership rows, so `members[value eq "<id>"]` is an index lookup, whatever the group's
//! size. Values are always bound parameters.

use serde_json::Value;

use super::Scope;
use super::filter_sql::{Params, SqlFilter, display, expect_str, unsupported};
use crate::scim::filter::{AttrPath, CompareOp, Filter};
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::{Invalid, group, user};

/// `first_param` is the number of the first `$n` placeholder this condition may use.
pub fn to_sql(filter: &Filter, first_param: usize, scope: Scope) -> Result<SqlFilter, Invalid> {
    let mut p = Params::new(first_param);
    let sql = condition(&mut p, scope, filter)?;
    Ok(p.finish(sql))
}

/// Where an attribute lives (shared with sorting, `sort_sql`).
pub(super) enum Target {
    Id,
    DisplayName,
    ExternalId,
    Timestamp(&'static str),
    /// `members` (its `value` by default), or one of its sub-attributes.
    Member(MemberSub),
}

#[derive(Clone, Copy)]
pub(super) enum MemberSub {
    Value,
    Display,
    Type,
}

/// The live members of the group under test, each with its user (`m`, `u`).
fn members_exist(cond: &str) -> String {
    format!(
        "exists (select 1 from scim.group_members m join scim.users u on u.id = m.user_id and u.deleted_at is null \
         where m.group_id = g.id and m.member and {cond})"
    )
}

fn condition(p: &mut Params, scope: Scope, f: &Filter) -> Result<String, Invalid> {
    Ok(match f {
        Filter::And(a, b) => format!("({} and {})", condition(p, scope, a)?, condition(p, scope, b)?),
        Filter::Or(a, b) => format!("({} or {})", condition(p, scope, a)?, condition(p, scope, b)?),
        Filter::Not(a) => format!("(not coalesce({}, false))", condition(p, scope, a)?),
        Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. }
            if scope == Scope::AllTypes && !GROUP_RESOURCE.knows(path.urn.as_deref(), &path.attr) =>
        {
            "false".into()
        }
        Filter::Present(path) => match target(path)? {
            Target::Id | Target::DisplayName | Target::Timestamp(_) => "true".into(),
            Target::ExternalId => "(g.external_id is not null and g.external_id <> '')".into(),
            Target::Member(_) => members_exist("true"),
        },
        Filter::Compare { path, op, value } => {
            let shown = display(path);
            match target(path)? {
                Target::Id => p.uuid_compare("g.id", *op, value, &shown)?,
                Target::DisplayName => {
                    let folded = group::fold(expect_str(value, &shown)?);
                    p.text_compare("g.display_name_key", *op, &folded, true)?
                }
                Target::ExternalId => {
                    let s = expect_str(value, &shown)?.to_owned();
                    p.text_compare("g.external_id", *op, &s, true)?
                }
                Target::Timestamp(col) => p.timestamp_compare(col, *op, value, &shown)?,
                Target::Member(sub) => {
                    let any = members_exist(&member_compare(p, sub, *op, value, &shown)?);
                    // Each member is compared on its own; a group without members has
                    // `members` unassigned, and `ne` holds for it (RFC 7643 §2.5).
                    match op {
                        CompareOp::Ne => format!("(not {} or {any})", members_exist("true")),
                        _ => any,
                    }
                }
            }
        }
        Filter::ValuePath { path, filter } => match target(&AttrPath {
            sub: None,
            ..path.clone()
        })? {
            Target::Member(_) => members_exist(&element(p, filter)?),
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
        ("meta", Some(s)) if s.eq_ignore_ascii_case("created") => Ok(Target::Timestamp("g.created_at")),
        ("meta", Some(s)) if s.eq_ignore_ascii_case("lastModified") => Ok(Target::Timestamp("g.updated_at")),
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

/// One member compared: `value` is the user id, `display` its userName (case-insensitive, as
/// userNames are), `type` always "User".
fn member_compare(
    p: &mut Params,
    sub: MemberSub,
    op: CompareOp,
    value: &Value,
    shown: &str,
) -> Result<String, Invalid> {
    match sub {
        MemberSub::Value => p.uuid_compare("m.user_id", op, value, shown),
        MemberSub::Display => {
            let folded = user::fold(expect_str(value, shown)?);
            p.text_compare("u.user_name_key", op, &folded, true)
        }
        MemberSub::Type => {
            let folded = expect_str(value, shown)?.to_lowercase();
            p.text_compare("'user'", op, &folded, true)
        }
    }
}

/// A filter inside `members[...]`: its paths name sub-attributes of each member.
fn element(p: &mut Params, f: &Filter) -> Result<String, Invalid> {
    let sub = |path: &AttrPath| {
        member_sub(&path.attr)
            .filter(|_| path.sub.is_none() && path.urn.is_none())
            .ok_or_else(|| unsupported(format!("'members' has no sub-attribute '{}'", display(path))))
    };
    Ok(match f {
        Filter::And(a, b) => format!("({} and {})", element(p, a)?, element(p, b)?),
        Filter::Or(a, b) => format!("({} or {})", element(p, a)?, element(p, b)?),
        Filter::Not(a) => format!("(not coalesce({}, false))", element(p, a)?),
        Filter::Present(path) => {
            sub(path)?;
            "true".into()
        }
        Filter::Compare { path, op, value } => member_compare(p, sub(path)?, *op, value, &display(path))?,
        Filter::ValuePath { .. } => return Err(unsupported("value filters cannot be nested".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::Kind;
    use crate::scim::filter::parse;

    fn sql(f: &str) -> Result<(String, usize), Invalid> {
        let s = to_sql(&parse(f)?, 2, Scope::OneType)?;
        Ok((s.sql, s.values.len()))
    }

    #[test]
    fn display_name_eq_compares_the_folded_key() {
        let (s, n) = sql("displayName eq \"Engineering\"").expect("supported");
        assert_eq!(s, "(g.display_name_key = $2)");
        assert_eq!(n, 1);
    }

    #[test]
    fn member_value_filters_are_an_exists_over_live_memberships() {
        let id = uuid::Uuid::now_v7();
        for f in [
            format!("members.value eq \"{id}\""),
            format!("members[value eq \"{id}\"]"),
            format!("members eq \"{id}\""),
        ] {
            let (s, n) = sql(&f).expect("supported");
            assert!(s.starts_with("exists (select 1 from scim.group_members m"), "{s}");
            assert!(
                s.contains("m.group_id = g.id and m.member and m.user_id = $2"),
                "{s}"
            );
            assert_eq!(n, 1);
        }
    }

    #[test]
    fn a_member_value_that_is_not_a_uuid_matches_nothing() {
        let (s, n) = sql("members[value eq \"nobody\"]").expect("supported");
        assert!(s.ends_with("and false)"), "{s}");
        assert_eq!(n, 0);
    }

    #[test]
    fn ids_external_ids_and_meta_dates_are_columns() {
        assert!(sql("externalId eq \"x\" and meta.lastModified gt \"2024-01-01T00:00:00Z\"").is_ok());
        assert_eq!(sql("id eq \"not-a-uuid\"").expect("supported").0, "false");
    }

    #[test]
    fn across_types_a_user_attribute_matches_no_group() {
        let f = parse("userName eq \"a\" or displayName eq \"G\"").expect("parses");
        let s = to_sql(&f, 2, Scope::AllTypes).expect("supported");
        assert_eq!(s.sql, "(false or (g.display_name_key = $2))");
        // A group attribute with a bad sub-attribute is still an error.
        let f = parse("members.foo eq \"x\"").expect("parses");
        assert!(to_sql(&f, 2, Scope::AllTypes).is_err());
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
