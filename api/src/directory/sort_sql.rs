//! The `ORDER BY` a `sortBy` becomes (RFC 7644 §3.4.2.3) for Users and Groups, so sorting
//! happens in Postgres like filtering does. An attribute is found where filters find it
//! (`user_filter::target`, `group_filter::target`), and then:
//! - strings compare in code-point order (`collate "C"`: "Unicode alphabetic sort order with no
//!   specific locale implied"), folded to lower case first unless the attribute is caseExact;
//! - a multi-valued attribute sorts by its primary value, or else its first one;
//! - resources without a value come last when ascending and first when descending;
//! - the id breaks ties, so the pages of a sorted list never overlap or skip a resource.
//!
//! Only schema-derived names become identifiers; nothing here comes from input.

use sea_orm::QueryOrder;
use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{Expr, ExprTrait, Func, NullOrdering, Order as Direction};
use shared::entity::{scim_group, scim_user};

use super::Scope;
use super::filter_sql::collate_c;
use super::group_filter::{self, Target as GroupTarget};
use super::user_filter::{self, Target as UserTarget, json_array, json_text};
use crate::scim::schema::{Attr, GROUP_RESOURCE, Type, user_resource};
use crate::scim::sort::Sort;
use crate::scim::{Invalid, Kind, invalid};

/// An `ORDER BY` list: each key, its direction, and where its nulls go when that is spelled out.
pub struct Order(Vec<(Expr, Direction, Option<NullOrdering>)>);

impl Order {
    /// Orders a query by these keys.
    pub fn apply<Q: QueryOrder>(self, mut query: Q) -> Q {
        for (expr, dir, nulls) in self.0 {
            query = match nulls {
                Some(n) => query.order_by_with_nulls(expr, dir, n),
                None => query.order_by(expr, dir),
            };
        }
        query
    }

    /// Creation order, then id.
    fn creation(created: Expr, id: Expr) -> Self {
        Self(vec![(created, Direction::Asc, None), (id, Direction::Asc, None)])
    }

    /// By id alone.
    fn id(id: Expr) -> Self {
        Self(vec![(id, Direction::Asc, None)])
    }

    /// By `expr` as `sortOrder` asks, then by id to break ties. Postgres's defaults (nulls last
    /// ascending, first descending) are RFC 7644's rule; spelled out so that nobody has to
    /// know that.
    fn by(expr: Expr, descending: bool, id: Expr) -> Self {
        let (dir, nulls) = if descending {
            (Direction::Desc, NullOrdering::First)
        } else {
            (Direction::Asc, NullOrdering::Last)
        };
        Self(vec![(expr, dir, Some(nulls)), (id, Direction::Asc, None)])
    }
}

/// The order of `scim.users`. Without `sortBy`: creation order.
pub fn users(sort: Option<&Sort>, scope: Scope) -> Result<Order, Invalid> {
    let col = user_filter::col;
    let id = || col(scim_user::Column::Id);
    let Some(sort) = sort else {
        return Ok(Order::creation(col(scim_user::Column::CreatedAt), id()));
    };
    if scope == Scope::AllTypes && !user_resource().knows(sort.by.urn.as_deref(), &sort.by.attr) {
        // No user has a value: all tie.
        return Ok(Order::id(id()));
    }
    let refuse = |why: &str| refused("Users", sort, why);
    let expr = match user_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        UserTarget::Id => id(),
        UserTarget::UserName => collate_c(col(scim_user::Column::UserNameKey)),
        UserTarget::ExternalId => text(col(scim_user::Column::ExternalId), true),
        UserTarget::Active => col(scim_user::Column::Active),
        UserTarget::Timestamp(c) => col(c),
        UserTarget::Json { keys, attr } => typed(json_text(&keys), attr),
        UserTarget::Complex { mut keys, value } => {
            let value = value.ok_or_else(|| refuse("name one of its sub-attributes"))?;
            keys.push(value.name);
            typed(json_text(&keys), value)
        }
        UserTarget::Multi { keys, attr, sub } => {
            if keys == ["groups"] {
                return Err(refuse(
                    "'groups' is derived from group memberships; look groups up under /Groups",
                ));
            }
            if attr.ty != Type::Complex {
                // A multi-valued simple attribute: by its first value.
                let first = json_array(&keys).get_json_field(Expr::Constant(0.into()));
                return Ok(Order::by(
                    typed(
                        first.binary(sea_orm::sea_query::BinOper::Custom("#>>"), Expr::cust("'{}'")),
                        attr,
                    ),
                    sort.descending,
                    id(),
                ));
            }
            let sub = sub
                .or_else(|| attr.sub_attr("value"))
                .ok_or_else(|| refuse("name one of its sub-attributes"))?;
            let primary = Func::cust("jsonb_path_query_first")
                .arg(json_array(&keys))
                .arg(Expr::cust("'$[*] ? (@.primary == true)'"));
            let first = json_array(&keys).get_json_field(Expr::Constant(0.into()));
            let element = Expr::expr(Func::coalesce([primary.into(), first]));
            typed(element.cast_json_field(sub.name), sub)
        }
    };
    Ok(Order::by(expr, sort.descending, id()))
}

/// The order of `scim.groups`. Without `sortBy`: creation order.
pub fn groups(sort: Option<&Sort>, scope: Scope) -> Result<Order, Invalid> {
    let col = group_filter::col;
    let id = || col(scim_group::Column::Id);
    let Some(sort) = sort else {
        return Ok(Order::creation(col(scim_group::Column::CreatedAt), id()));
    };
    if scope == Scope::AllTypes && !GROUP_RESOURCE.knows(sort.by.urn.as_deref(), &sort.by.attr) {
        return Ok(Order::id(id()));
    }
    let refuse = |why: &str| refused("Groups", sort, why);
    let expr = match group_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        GroupTarget::Id => id(),
        GroupTarget::DisplayName => collate_c(col(scim_group::Column::DisplayNameKey)),
        GroupTarget::ExternalId => text(col(scim_group::Column::ExternalId), true),
        GroupTarget::Timestamp(c) => col(c),
        GroupTarget::Member(_) => {
            return Err(refuse(
                "a group's members are a set, with no value to order groups by",
            ));
        }
    };
    Ok(Order::by(expr, sort.descending, id()))
}

fn refused(resource_type: &str, sort: &Sort, why: &str) -> Invalid {
    invalid(
        Kind::InvalidValue,
        format!("cannot sort {resource_type} by '{}': {why}", sort.by),
    )
}

/// A text value, empty treated as missing.
fn text(expr: Expr, case_exact: bool) -> Expr {
    let value: Expr = Func::cust("nullif").arg(expr).arg(Expr::cust("''")).into();
    if case_exact {
        collate_c(value)
    } else {
        collate_c(Func::lower(value).into())
    }
}

/// A value read from the JSON document as text, compared as its schema type.
fn typed(expr: Expr, attr: &Attr) -> Expr {
    match attr.ty {
        Type::Boolean => expr.cast_as("boolean"),
        Type::DateTime => expr.cast_as("timestamptz"),
        t if t.is_number() => expr.cast_as("numeric"),
        _ => text(expr, attr.case_exact),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryTrait};

    use super::*;
    use crate::scim::sort;

    /// The `ORDER BY` list as Postgres receives it, values inlined.
    fn listed<E: EntityTrait>(order: Order) -> String {
        let sql = order.apply(E::find()).build(DbBackend::Postgres).to_string();
        let (_, list) = sql.split_once(" ORDER BY ").expect("ordered");
        list.to_owned()
    }

    fn user_order(sort: Option<&Sort>, scope: Scope) -> Result<String, Invalid> {
        Ok(listed::<scim_user::Entity>(users(sort, scope)?))
    }

    fn group_order(sort: Option<&Sort>, scope: Scope) -> Result<String, Invalid> {
        Ok(listed::<scim_group::Entity>(groups(sort, scope)?))
    }

    fn user_sql(by: &str, order: Option<&str>) -> Result<String, Invalid> {
        user_order(sort::parse(Some(by), order)?.as_ref(), Scope::OneType)
    }

    fn group_sql(by: &str) -> Result<String, Invalid> {
        group_order(sort::parse(Some(by), None)?.as_ref(), Scope::OneType)
    }

    #[test]
    fn without_sort_by_lists_keep_creation_order() {
        assert_eq!(
            user_order(None, Scope::OneType).unwrap(),
            r#""users"."created_at" ASC, "users"."id" ASC"#
        );
        assert_eq!(
            group_order(None, Scope::OneType).unwrap(),
            r#""groups"."created_at" ASC, "groups"."id" ASC"#
        );
    }

    #[test]
    fn case_insensitive_strings_sort_folded_and_case_exact_ones_as_they_are() {
        assert_eq!(
            user_sql("USERNAME", None).unwrap(),
            r#""users"."user_name_key" COLLATE "C" ASC NULLS LAST, "users"."id" ASC"#
        );
        assert_eq!(
            user_sql("name.familyName", Some("descending")).unwrap(),
            r#"LOWER(nullif("users"."resource" #>> ARRAY ['name','familyName'], '')) COLLATE "C" DESC NULLS FIRST, "users"."id" ASC"#
        );
        assert_eq!(
            user_sql("externalId", None).unwrap(),
            r#"nullif("users"."external_id", '') COLLATE "C" ASC NULLS LAST, "users"."id" ASC"#
        );
        assert_eq!(
            group_sql("displayName").unwrap(),
            r#""groups"."display_name_key" COLLATE "C" ASC NULLS LAST, "groups"."id" ASC"#
        );
    }

    #[test]
    fn multi_valued_attributes_sort_by_the_primary_or_first_value() {
        let s = user_sql("emails", None).unwrap();
        assert!(
            str::contains(
                &s,
                r#"jsonb_path_query_first(COALESCE("users"."resource" #> ARRAY ['emails'], '[]'::jsonb), '$[*] ? (@.primary == true)')"#
            ),
            "{s}"
        );
        assert!(str::contains(&s, "->> 'value'"), "{s}");
        assert!(str::contains(
            &user_sql("emails.type", None).unwrap(),
            "->> 'type'"
        ));
    }

    #[test]
    fn meta_dates_extension_attributes_and_booleans_sort_by_type() {
        assert_eq!(
            user_sql("meta.lastModified", None).unwrap(),
            r#""users"."updated_at" ASC NULLS LAST, "users"."id" ASC"#
        );
        assert_eq!(
            group_sql("meta.created").unwrap(),
            r#""groups"."created_at" ASC NULLS LAST, "groups"."id" ASC"#
        );
        assert!(
            user_sql(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                None
            )
            .unwrap()
            .starts_with(r#"nullif("users"."resource" #>> ARRAY ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User','manager','value'], '')"#)
        );
        assert_eq!(
            user_sql("active", None).unwrap(),
            r#""users"."active" ASC NULLS LAST, "users"."id" ASC"#
        );
    }

    #[test]
    fn attributes_that_cannot_be_sorted_on_are_invalid_values() {
        for by in [
            "shoeSize",
            "password",
            "groups",
            "name",
            "meta.version",
            "name.nope",
        ] {
            assert_eq!(user_sql(by, None).unwrap_err().kind, Kind::InvalidValue, "{by}");
        }
        for by in ["members", "members.value", "userName"] {
            assert_eq!(group_sql(by).unwrap_err().kind, Kind::InvalidValue, "{by}");
        }
    }

    #[test]
    fn across_types_an_attribute_a_type_lacks_leaves_it_in_id_order() {
        let s = sort::parse(Some("members.display"), None).unwrap();
        assert_eq!(
            user_order(s.as_ref(), Scope::AllTypes).unwrap(),
            r#""users"."id" ASC"#
        );
        let s = sort::parse(Some("userName"), None).unwrap();
        assert_eq!(
            group_order(s.as_ref(), Scope::AllTypes).unwrap(),
            r#""groups"."id" ASC"#
        );
    }
}
