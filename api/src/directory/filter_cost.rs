//! What a list filter may ask of Postgres, decided before it runs. Substring matches (`co`,
//! `sw`, `ew`) cannot use an index, so each one is a pass over the tenant's rows: 161 of them in
//! a 4 KiB filter took 8.6 s over 20,000 users. IdPs send one comparison (`userName eq`), test
//! suites a handful; the limits below leave ample room for both and refuse the rest with a 400
//! that says what to change. The statement time limit (`directory::bounded`) covers whatever
//! still gets through.

use crate::scim::filter::{CompareOp, Filter};
use crate::scim::{Invalid, Kind, invalid};

/// Most `co`/`sw`/`ew` comparisons in one filter.
pub const MAX_SUBSTRING_CLAUSES: usize = 8;
/// Most comparisons (of any operator, and `pr`) in one filter.
pub const MAX_CLAUSES: usize = 64;

pub fn check(filter: &Filter) -> Result<(), Invalid> {
    let mut count = Count::default();
    count.walk(filter);
    if count.substring > MAX_SUBSTRING_CLAUSES {
        return Err(invalid(
            Kind::InvalidFilter,
            format!(
                "the filter has {} 'co', 'sw' or 'ew' comparisons; at most {MAX_SUBSTRING_CLAUSES} \
                 are accepted, since each one reads every resource of the tenant: split the query",
                count.substring
            ),
        ));
    }
    if count.all > MAX_CLAUSES {
        return Err(invalid(
            Kind::InvalidFilter,
            format!(
                "the filter has {} comparisons; at most {MAX_CLAUSES} are accepted: split the query",
                count.all
            ),
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Count {
    all: usize,
    substring: usize,
}

impl Count {
    fn walk(&mut self, f: &Filter) {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                self.walk(a);
                self.walk(b);
            }
            Filter::Not(a) => self.walk(a),
            Filter::ValuePath { filter, .. } => self.walk(filter),
            Filter::Present(_) => self.all += 1,
            Filter::Compare { op, .. } => {
                self.all += 1;
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    self.substring += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_admitted_filter_renders_as_sql_on_a_default_stack() {
        use sea_orm::sea_query::{PostgresQueryBuilder, Query};

        use crate::directory::{Scope, group_filter, user_filter};
        use crate::scim::filter::{MAX_DEPTH, parse};

        let chain = vec!["title pr"; MAX_CLAUSES].join(" or ");
        let f = format!(
            "{}{chain}{}",
            "not (".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        let parsed = parse(&f).expect("parses");
        check(&parsed).expect("admitted");
        let cond = user_filter::to_sql(&parsed, Scope::AllTypes).expect("supported");
        assert!(
            !Query::select()
                .expr(cond)
                .build(PostgresQueryBuilder)
                .0
                .is_empty()
        );
        let cond = group_filter::to_sql(&parsed, Scope::AllTypes).expect("supported");
        assert!(
            !Query::select()
                .expr(cond)
                .build(PostgresQueryBuilder)
                .0
                .is_empty()
        );
    }
    use crate::scim::filter::parse;

    fn clauses(op: &str, n: usize) -> String {
        clauses_on("emails.value", op, n)
    }

    fn clauses_on(attr: &str, op: &str, n: usize) -> String {
        (0..n)
            .map(|i| format!("{attr} {op} \"x{i}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    #[test]
    fn what_idps_and_test_suites_send_is_accepted() {
        for f in [
            r#"userName eq "a@b.c""#,
            r#"emails[type eq "work" and value co "@example.com"] or userName sw "j""#,
            &clauses("co", MAX_SUBSTRING_CLAUSES),
            &clauses("eq", MAX_CLAUSES),
        ] {
            assert!(check(&parse(f).expect("parses")).is_ok(), "{f}");
        }
    }

    #[test]
    fn many_substring_comparisons_are_refused_as_an_invalid_filter() {
        let e = check(&parse(&clauses("co", MAX_SUBSTRING_CLAUSES + 1)).expect("parses")).unwrap_err();
        assert_eq!(e.kind, Kind::InvalidFilter);
        assert!(e.detail.contains("'co', 'sw' or 'ew'"), "{}", e.detail);
        let nested = format!(
            "not ({}) and emails[{}]",
            clauses("sw", 5),
            clauses_on("value", "ew", 5)
        );
        assert!(check(&parse(&nested).expect("parses")).is_err());
    }

    #[test]
    fn too_many_comparisons_of_any_kind_are_refused() {
        assert!(check(&parse(&clauses("eq", MAX_CLAUSES + 1)).expect("parses")).is_err());
    }
}
