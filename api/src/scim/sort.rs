//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3): the attribute a list is ordered by and the
//! direction. Only parsing lives here; which attributes can be sorted on, and how each compares,
//! is decided with the schema where the SQL is built (`directory::sort_sql`).

use super::filter::{self, AttrPath};
use super::{Invalid, Kind, invalid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub by: AttrPath,
    pub descending: bool,
}

/// Reads `sortBy` and `sortOrder`. `sortOrder` is case-insensitive and defaults to ascending.
/// Without `sortBy` there is nothing to order by ("the order in which the sortBy parameter is
/// applied"), so a lone `sortOrder` is checked and otherwise ignored.
///
/// A malformed value of either is `invalidValue`: RFC 7644 §3.12 reserves `invalidPath` for
/// PATCH paths and `invalidFilter` for filters, and `sortBy` is neither.
pub fn parse(sort_by: Option<&str>, sort_order: Option<&str>) -> Result<Option<Sort>, Invalid> {
    let descending = match sort_order.map(str::trim) {
        None | Some("") => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(_) => {
            return Err(invalid(
                Kind::InvalidValue,
                "sortOrder must be \"ascending\" or \"descending\"",
            ));
        }
    };
    let Some(by) = sort_by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let by = filter::parse_attr_path(by)
        .map_err(|e| invalid(Kind::InvalidValue, format!("sortBy: {}", e.detail)))?;
    Ok(Some(Sort { by, descending }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_order_defaults_to_ascending_and_ignores_case() {
        let s = parse(Some("userName"), None).unwrap().unwrap();
        assert!(!s.descending);
        assert_eq!(s.by.attr, "userName");
        let s = parse(Some("name.familyName"), Some("DESCENDING"))
            .unwrap()
            .unwrap();
        assert!(s.descending);
        assert_eq!(s.by.sub.as_deref(), Some("familyName"));
        let s = parse(Some("x"), Some("Ascending")).unwrap().unwrap();
        assert!(!s.descending);
    }

    #[test]
    fn urn_qualified_sort_attributes_keep_their_urn() {
        let s = parse(
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.by.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(s.by.attr, "employeeNumber");
    }

    #[test]
    fn a_sort_order_without_sort_by_orders_nothing_but_is_still_checked() {
        assert_eq!(parse(None, Some("descending")).unwrap(), None);
        assert_eq!(parse(Some("  "), None).unwrap(), None);
        assert_eq!(
            parse(None, Some("sideways")).unwrap_err().kind,
            Kind::InvalidValue
        );
    }

    #[test]
    fn malformed_sort_attributes_are_invalid_values() {
        for bad in ["name..x", "1abc", "a b", "emails[type eq \"work\"]"] {
            assert_eq!(
                parse(Some(bad), None).unwrap_err().kind,
                Kind::InvalidValue,
                "{bad}"
            );
        }
    }
}
