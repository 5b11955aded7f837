//! A search at the server root (RFC 7644 §3.4.2.1, §3.4.3), which spans every resource type.
//! Each type evaluates the filter alone, and an attribute it does not have matches nothing there,
//! since another type may have it. An attribute that no type has is still the client's mistake.

use super::filter::{AttrPath, Filter};
use super::schema::ResourceSchema;
use super::sort::Sort;
use super::{Invalid, Kind, invalid};

/// Refuses a filter or `sortBy` naming an attribute that none of `types` has.
pub fn check_attributes(
    filter: Option<&Filter>,
    sort: Option<&Sort>,
    types: &[&ResourceSchema],
) -> Result<(), Invalid> {
    let known = |p: &AttrPath| types.iter().any(|t| t.knows(p.urn.as_deref(), &p.attr));
    if let Some(f) = filter
        && let Some(p) = first_unknown(f, &known)
    {
        return Err(invalid(
            Kind::InvalidFilter,
            format!("unknown attribute '{p}': no resource type has it"),
        ));
    }
    if let Some(s) = sort
        && !known(&s.by)
    {
        return Err(invalid(
            Kind::InvalidValue,
            format!("cannot sort by '{}': no resource type has it", s.by),
        ));
    }
    Ok(())
}

/// The first top-level attribute path of `f` that `known` refuses. Paths inside `attr[...]` are
/// sub-attributes of `attr`, so only `attr` itself is looked at.
fn first_unknown<'f>(f: &'f Filter, known: &impl Fn(&AttrPath) -> bool) -> Option<&'f AttrPath> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => first_unknown(a, known).or_else(|| first_unknown(b, known)),
        Filter::Not(a) => first_unknown(a, known),
        Filter::Present(p) | Filter::Compare { path: p, .. } | Filter::ValuePath { path: p, .. } => {
            (!known(p)).then_some(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use crate::scim::sort;

    fn check(f: &str, sort_by: Option<&str>) -> Result<(), Invalid> {
        let f = parse(f).unwrap();
        let s = sort::parse(sort_by, None).unwrap();
        check_attributes(Some(&f), s.as_ref(), &[&USER_RESOURCE, &GROUP_RESOURCE])
    }

    #[test]
    fn attributes_of_either_type_are_accepted() {
        check(
            "userName eq \"a\" or members[value eq \"x\"]",
            Some("displayName"),
        )
        .unwrap();
        check(
            "not (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr)",
            Some("members.value"),
        )
        .unwrap();
    }

    #[test]
    fn an_attribute_no_type_has_is_refused() {
        assert_eq!(
            check("userName eq \"a\" or shoeSize gt \"40\"", None)
                .unwrap_err()
                .kind,
            Kind::InvalidFilter
        );
        assert_eq!(
            check("userName pr", Some("shoeSize")).unwrap_err().kind,
            Kind::InvalidValue
        );
    }
}
