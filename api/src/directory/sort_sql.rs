//! The `ORDER BY` a `sortBy` becomes (RFC 7644 §3.4.2.3) for Users and Groups, so sorting
//! happens in Postgres like filtering does. An attribute is found where filters find it
//! (`user_filter::target`, `group_filter::target`), and then:
//! - strings compare in code-point order (`collate "C"`: "Unicode alphabetic sort order with no
//!   specific locale implied"), folded to lower case first unless the attribute is caseExact;
//! - a multi-valued attribute sorts by its primary value, or else its first one;
//! - resources without a value come last when ascending and first when descending;
//! - the id breaks ties, so the pages of a sorted list never overlap or skip a resource.
//!
//! Only schema-derived names are spliced into the SQL; nothing here comes from input.

use super::Scope;
use super::group_filter::{self, Target as GroupTarget};
use super::user_filter::{self, Target as UserTarget, json_array, json_text};
use crate::scim::schema::{Attr, GROUP_RESOURCE, Type, USER_RESOURCE};
use crate::scim::sort::Sort;
use crate::scim::{Invalid, Kind, invalid};

/// The `ORDER BY` list for `scim.users`. Without `sortBy`: creation order.
pub fn users(sort: Option<&Sort>, scope: Scope) -> Result<String, Invalid> {
    let Some(sort) = sort else {
        return Ok("created_at, id".into());
    };
    if scope == Scope::AllTypes && !USER_RESOURCE.knows(sort.by.urn.as_deref(), &sort.by.attr) {
        // No user has a value: all tie.
        return Ok("id".into());
    }
    let refuse = |why: &str| refused("Users", sort, why);
    let expr = match user_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        UserTarget::Id => "id".into(),
        UserTarget::UserName => "user_name_key collate \"C\"".into(),
        UserTarget::ExternalId => text("external_id", true),
        UserTarget::Active => "active".into(),
        UserTarget::Timestamp(col) => col.into(),
        UserTarget::Json { keys, attr } => typed(&json_text("resource", &keys), attr),
        UserTarget::Complex { mut keys, value } => {
            let value = value.ok_or_else(|| refuse("name one of its sub-attributes"))?;
            keys.push(value.name);
            typed(&json_text("resource", &keys), value)
        }
        UserTarget::Multi { keys, attr, sub } => {
            if keys == ["groups"] {
                return Err(refuse(
                    "'groups' is derived from group memberships; look groups up under /Groups",
                ));
            }
            let sub = sub
                .or_else(|| attr.sub_attr("value"))
                .ok_or_else(|| refuse("name one of its sub-attributes"))?;
            let arr = json_array("resource", &keys);
            let element =
                format!("coalesce(jsonb_path_query_first({arr}, '$[*] ? (@.primary == true)'), {arr} -> 0)");
            typed(&format!("({element} ->> '{}')", sub.name), sub)
        }
    };
    Ok(order_by(&expr, sort.descending, "id"))
}

/// The `ORDER BY` list for `scim.groups g`. Without `sortBy`: creation order.
pub fn groups(sort: Option<&Sort>, scope: Scope) -> Result<String, Invalid> {
    let Some(sort) = sort else {
        return Ok("g.created_at, g.id".into());
    };
    if scope == Scope::AllTypes && !GROUP_RESOURCE.knows(sort.by.urn.as_deref(), &sort.by.attr) {
        return Ok("g.id".into());
    }
    let refuse = |why: &str| refused("Groups", sort, why);
    let expr = match group_filter::target(&sort.by).map_err(|e| refuse(&e.detail))? {
        GroupTarget::Id => "g.id".into(),
        GroupTarget::DisplayName => "g.display_name_key collate \"C\"".into(),
        GroupTarget::ExternalId => text("g.external_id", true),
        GroupTarget::Timestamp(col) => col.into(),
        GroupTarget::Member(_) => {
            return Err(refuse(
                "a group's members are a set, with no value to order groups by",
            ));
        }
    };
    Ok(order_by(&expr, sort.descending, "g.id"))
}

fn refused(resource_type: &str, sort: &Sort, why: &str) -> Invalid {
    invalid(
        Kind::InvalidValue,
        format!("cannot sort {resource_type} by '{}': {why}", sort.by),
    )
}

/// A text value, empty treated as missing.
fn text(expr: &str, case_exact: bool) -> String {
    if case_exact {
        format!("nullif({expr}, '') collate \"C\"")
    } else {
        format!("lower(nullif({expr}, '')) collate \"C\"")
    }
}

/// A value read from the JSON document as text, compared as its schema type.
fn typed(expr: &str, attr: &Attr) -> String {
    match attr.ty {
        Type::Boolean => format!("({expr})::boolean"),
        Type::DateTime => format!("({expr})::timestamptz"),
        _ => text(expr, attr.case_exact),
    }
}

fn order_by(expr: &str, descending: bool, id: &str) -> String {
    // Postgres's defaults (nulls last ascending, first descending) are RFC 7644's rule; spelled
    // out so that nobody has to know that.
    let dir = if descending {
        "desc nulls first"
    } else {
        "asc nulls last"
    };
    format!("{expr} {dir}, {id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::sort;

    fn user_sql(by: &str, order: Option<&str>) -> Result<String, Invalid> {
        users(sort::parse(Some(by), order)?.as_ref(), Scope::OneType)
    }

    fn group_sql(by: &str) -> Result<String, Invalid> {
        groups(sort::parse(Some(by), None)?.as_ref(), Scope::OneType)
    }

    #[test]
    fn without_sort_by_lists_keep_creation_order() {
        assert_eq!(users(None, Scope::OneType).unwrap(), "created_at, id");
        assert_eq!(groups(None, Scope::OneType).unwrap(), "g.created_at, g.id");
    }

    #[test]
    fn case_insensitive_strings_sort_folded_and_case_exact_ones_as_they_are() {
        assert_eq!(
            user_sql("USERNAME", None).unwrap(),
            "user_name_key collate \"C\" asc nulls last, id"
        );
        assert_eq!(
            user_sql("name.familyName", Some("descending")).unwrap(),
            "lower(nullif((resource #>> '{\"name\",\"familyName\"}'), '')) collate \"C\" desc nulls first, id"
        );
        assert_eq!(
            user_sql("externalId", None).unwrap(),
            "nullif(external_id, '') collate \"C\" asc nulls last, id"
        );
        assert_eq!(
            group_sql("displayName").unwrap(),
            "g.display_name_key collate \"C\" asc nulls last, g.id"
        );
    }

    #[test]
    fn multi_valued_attributes_sort_by_the_primary_or_first_value() {
        let s = user_sql("emails", None).unwrap();
        assert!(
            s.contains("jsonb_path_query_first(coalesce(resource #> '{\"emails\"}', '[]'::jsonb), '$[*] ? (@.primary == true)')"),
            "{s}"
        );
        assert!(s.contains("->> 'value'"), "{s}");
        assert!(user_sql("emails.type", None).unwrap().contains("->> 'type'"));
    }

    #[test]
    fn meta_dates_extension_attributes_and_booleans_sort_by_type() {
        assert_eq!(
            user_sql("meta.lastModified", None).unwrap(),
            "updated_at asc nulls last, id"
        );
        assert_eq!(
            group_sql("meta.created").unwrap(),
            "g.created_at asc nulls last, g.id"
        );
        assert!(
            user_sql(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                None
            )
            .unwrap()
            .starts_with("nullif((resource #>> '{\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\",\"manager\",\"value\"}'), '')")
        );
        assert_eq!(user_sql("active", None).unwrap(), "active asc nulls last, id");
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
        assert_eq!(users(s.as_ref(), Scope::AllTypes).unwrap(), "id");
        let s = sort::parse(Some("userName"), None).unwrap();
        assert_eq!(groups(s.as_ref(), Scope::AllTypes).unwrap(), "g.id");
    }
}
