//! The `ORDER BY` a `sortBy` becomes (RFC 7644 §3.4.2.3) for Users and Groups, so sorting
//! happens in Postgres like filtering does. An attribute is found where filters find it
//! (`user_filter::target`, `group_filter::target`), and then:
//! - strings compare in code-point order (`collate "C"`: "Unicode alphabetic sort order with no
//!   specific locale implied"), folded to lower case first unless the attribute is caseExact;
//! - a multi-valued attribute sorts by its primary value, or else its first one;
//! - resources without a value come last when ascending and first when descending;
//! - the id breaks ties, so the pages of a sorted list never overlap or skip a resource;
//! - a cursor walk (RFC 9865) resumes after a position in this order ([`Order::after`]).
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

/// An `ORDER BY` list. Its last key is always the id, ascending, so that the order is total.
pub struct Order(Vec<Key>);

/// One key of an [`Order`].
struct Key {
    expr: Expr,
    dir: Direction,
    /// Where nulls go, when spelled out; `None` only for NOT NULL columns in ascending order
    /// (creation time, id).
    nulls: Option<NullOrdering>,
    /// The SQL type of `expr`, which a cursor's text of a value is cast back to.
    ty: &'static str,
}

impl Key {
    fn asc(expr: Expr, ty: &'static str) -> Self {
        Self {
            expr,
            dir: Direction::Asc,
            nulls: None,
            ty,
        }
    }

    fn value(&self, v: &str) -> Expr {
        Expr::val(v).cast_as(self.ty)
    }

    /// The rows whose key is `v`.
    fn at(&self, v: Option<&str>) -> Expr {
        match v {
            None => self.expr.clone().is_null(),
            Some(v) => self.expr.clone().eq(self.value(v)),
        }
    }

    /// The rows whose key comes after `v` in this key's order, nulls where they sort.
    fn beyond(&self, v: Option<&str>) -> Expr {
        let after = |v| match self.dir {
            Direction::Desc => self.expr.clone().lt(self.value(v)),
            _ => self.expr.clone().gt(self.value(v)),
        };
        match (v, self.nulls) {
            (Some(v), None | Some(NullOrdering::First)) => after(v),
            (Some(v), Some(NullOrdering::Last)) => after(v).or(self.expr.clone().is_null()),
            (None, Some(NullOrdering::First)) => self.expr.clone().is_not_null(),
            // Nothing follows a null sorted last but other nulls, which `at` finds. (A NOT
            // NULL column has no null position but in a cursor written by hand.)
            (None, _) => Expr::val(false),
        }
    }
}

impl Order {
    /// Orders a query by these keys.
    pub fn apply<Q: QueryOrder>(self, mut query: Q) -> Q {
        for Key { expr, dir, nulls, .. } in self.0 {
            query = match nulls {
                Some(n) => query.order_by_with_nulls(expr, dir, n),
                None => query.order_by(expr, dir),
            };
        }
        query
    }

    /// A row's position in this order, for a cursor: each key's value as text (null as null),
    /// in one JSON array. Text round-trips every key type exactly (timestamps to the
    /// microsecond, numerics digit for digit) when cast back by [`Order::after`].
    pub fn position(&self) -> Expr {
        Func::cust("jsonb_build_array")
            .args(self.0.iter().map(|k| k.expr.clone().cast_as("text")))
            .into()
    }

    /// The rows after `position` (from [`Order::position`]) in this order: lexicographically,
    /// each key in its direction with its nulls where they sort. `None` when the position has
    /// another number of keys. Creation order, with no nulls and every key ascending, is one
    /// row comparison, which the tenant's `(tenant_id, created_at, id)` index answers.
    pub fn after(&self, position: &[Option<String>]) -> Option<Expr> {
        if position.len() != self.0.len() {
            return None;
        }
        let keys = self.0.iter().zip(position.iter().map(Option::as_deref));
        if let Some(values) = position.iter().map(Option::as_deref).collect::<Option<Vec<_>>>()
            && self.0.iter().all(|k| k.nulls.is_none())
        {
            let (exprs, values): (Vec<Expr>, Vec<Expr>) = keys
                .zip(values)
                .map(|((k, _), v)| (k.expr.clone(), k.value(v)))
                .unzip();
            return Some(Expr::tuple(exprs).gt(Expr::tuple(values)));
        }
        let mut keys = keys.rev();
        let (last, v) = keys.next()?;
        Some(keys.fold(last.beyond(v), |rest, (k, v)| k.beyond(v).or(k.at(v).and(rest))))
    }

    /// Creation order, then id.
    fn creation(created: Expr, id: Expr) -> Self {
        Self(vec![Key::asc(created, "timestamptz"), Key::asc(id, "uuid")])
    }

    /// By id alone.
    fn id(id: Expr) -> Self {
        Self(vec![Key::asc(id, "uuid")])
    }

    /// By `expr` (of SQL type `ty`) as `sortOrder` asks, then by id to break ties. Postgres's
    /// defaults (nulls last ascending, first descending) are RFC 7644's rule; spelled out so
    /// that nobody has to know that.
    fn by((expr, ty): (Expr, &'static str), descending: bool, id: Expr) -> Self {
        let (dir, nulls) = if descending {
            (Direction::Desc, NullOrdering::First)
        } else {
            (Direction::Asc, NullOrdering::Last)
        };
        Self(vec![
            Key {
                expr,
                dir,
                nulls: Some(nulls),
                ty,
            },
            Key::asc(id, "uuid"),
        ])
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
    let key = match user_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        UserTarget::Id => (id(), "uuid"),
        UserTarget::UserName => (collate_c(col(scim_user::Column::UserNameKey)), "text"),
        UserTarget::ExternalId => (text(col(scim_user::Column::ExternalId), true), "text"),
        UserTarget::Active => (col(scim_user::Column::Active), "boolean"),
        UserTarget::Timestamp(c) => (col(c), "timestamptz"),
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
    Ok(Order::by(key, sort.descending, id()))
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
    let key = match group_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        GroupTarget::Id => (id(), "uuid"),
        GroupTarget::DisplayName => (collate_c(col(scim_group::Column::DisplayNameKey)), "text"),
        GroupTarget::ExternalId => (text(col(scim_group::Column::ExternalId), true), "text"),
        GroupTarget::Timestamp(c) => (col(c), "timestamptz"),
        GroupTarget::Member(_) => {
            return Err(refuse(
                "a group's members are a set, with no value to order groups by",
            ));
        }
    };
    Ok(Order::by(key, sort.descending, id()))
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

/// A value read from the JSON document as text, compared as its schema type; and that type.
fn typed(expr: Expr, attr: &Attr) -> (Expr, &'static str) {
    match attr.ty {
        Type::Boolean => (expr.cast_as("boolean"), "boolean"),
        Type::DateTime => (expr.cast_as("timestamptz"), "timestamptz"),
        t if t.is_number() => (expr.cast_as("numeric"), "numeric"),
        _ => (text(expr, attr.case_exact), "text"),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryTrait};

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

    /// The condition of the rows after `position`, as Postgres receives it, values inlined.
    fn after_sql(order: Order, position: &[Option<&str>]) -> Option<String> {
        let position: Vec<Option<String>> = position.iter().map(|v| v.map(str::to_owned)).collect();
        let cond = order.after(&position)?;
        let sql = scim_user::Entity::find()
            .filter(cond)
            .build(DbBackend::Postgres)
            .to_string();
        Some(sql.split_once(" WHERE ").expect("filtered").1.to_owned())
    }

    #[test]
    fn a_cursor_resumes_creation_order_with_one_row_comparison() {
        let order = users(None, Scope::OneType).unwrap();
        assert_eq!(
            after_sql(
                order,
                &[
                    Some("2025-10-09 13:03:21.5+00"),
                    Some("0199c8a0-0000-7000-8000-000000000001")
                ]
            )
            .unwrap(),
            r#"("users"."created_at", "users"."id") > (CAST('2025-10-09 13:03:21.5+00' AS timestamptz), CAST('0199c8a0-0000-7000-8000-000000000001' AS uuid))"#
        );
    }

    #[test]
    fn a_cursor_resumes_a_sorted_order_after_its_sort_key_then_its_id() {
        let s = sort::parse(Some("userName"), None).unwrap();
        let order = users(s.as_ref(), Scope::OneType).unwrap();
        assert_eq!(
            after_sql(
                order,
                &[Some("bjensen"), Some("0199c8a0-0000-7000-8000-000000000001")]
            )
            .unwrap(),
            r#"("users"."user_name_key" COLLATE "C") > CAST('bjensen' AS text) OR ("users"."user_name_key" COLLATE "C") IS NULL OR (("users"."user_name_key" COLLATE "C") = CAST('bjensen' AS text) AND "users"."id" > CAST('0199c8a0-0000-7000-8000-000000000001' AS uuid))"#
        );
    }

    #[test]
    fn a_cursor_at_a_missing_value_resumes_where_nulls_sort() {
        let id = "0199c8a0-0000-7000-8000-000000000001";
        // Ascending: nulls last, so only other nulls with a greater id follow.
        let s = sort::parse(Some("title"), None).unwrap();
        let sql = after_sql(users(s.as_ref(), Scope::OneType).unwrap(), &[None, Some(id)]).unwrap();
        assert!(sql.starts_with("FALSE OR ((LOWER("), "{sql}");
        assert!(
            str::contains(&sql, "IS NULL AND \"users\".\"id\" > CAST("),
            "{sql}"
        );
        // Descending: nulls first, so every value follows them.
        let s = sort::parse(Some("title"), Some("descending")).unwrap();
        let sql = after_sql(users(s.as_ref(), Scope::OneType).unwrap(), &[None, Some(id)]).unwrap();
        assert!(str::contains(&sql, "IS NOT NULL OR ("), "{sql}");
        // Descending from a value: smaller values, then equal ones with a greater id.
        let sql = after_sql(users(s.as_ref(), Scope::OneType).unwrap(), &[Some("b"), Some(id)]).unwrap();
        assert!(
            str::contains(&sql, r#"COLLATE "C") < CAST('b' AS text) OR (("#),
            "{sql}"
        );
    }

    #[test]
    fn a_position_with_another_number_of_keys_fits_no_order() {
        assert!(after_sql(users(None, Scope::OneType).unwrap(), &[Some("x")]).is_none());
        assert!(after_sql(groups(None, Scope::OneType).unwrap(), &[]).is_none());
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
