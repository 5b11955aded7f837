//! The building blocks SCIM filters translate to, shared by the Users and Groups filters: text
//! comparisons (`eq`, `co`, `sw`, ... with LIKE escaping), orderings, value checks and the
//! logical connectives, as sea-query expressions. Values are always bound; only schema-derived
//! names become identifiers.

use sea_orm::sea_query::{BinOper, Expr, ExprTrait, Func, SelectStatement};
use serde_json::Value;

use crate::scim::filter::{AttrPath, CompareOp, clip};
use crate::scim::{Invalid, Kind, invalid};

/// `(a and b)`, `(a or b)` and `not`, the latter as `not coalesce(a, false)`: a comparison with
/// a missing value is null, and the negation of "no value" is true in SCIM, not null.
pub fn and(a: Expr, b: Expr) -> Expr {
    a.and(b)
}

pub fn or(a: Expr, b: Expr) -> Expr {
    a.or(b)
}

pub fn not(a: Expr) -> Expr {
    Expr::expr(Func::coalesce([a, truth(false)])).not()
}

/// The literal `true` or `false`.
pub fn truth(b: bool) -> Expr {
    Expr::Constant(b.into())
}

/// `exists (select 1 {from ...})`.
pub fn exists(mut from: SelectStatement) -> Expr {
    Expr::exists(from.expr(Expr::cust("1")).to_owned())
}

/// `already_folded`: the column holds folded text and `s` was folded the same way, else both
/// sides are lowered by Postgres.
pub fn text_compare(col: Expr, op: CompareOp, s: &str, already_folded: bool) -> Result<Expr, Invalid> {
    let rhs = |v: String| {
        if already_folded {
            Expr::val(v)
        } else {
            Func::lower(Expr::val(v)).into()
        }
    };
    let like = |pattern: String| {
        col.clone().binary(
            BinOper::Like,
            rhs(pattern).binary(BinOper::Escape, Expr::Constant('\\'.into())),
        )
    };
    Ok(match op {
        CompareOp::Eq => col.eq(rhs(s.to_owned())),
        CompareOp::Ne => col.binary(BinOper::Custom("IS DISTINCT FROM"), rhs(s.to_owned())),
        CompareOp::Co => like(format!("%{}%", like_escape(s))),
        CompareOp::Sw => like(format!("{}%", like_escape(s))),
        CompareOp::Ew => like(format!("%{}", like_escape(s))),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            ordering(collate_c(col), op, rhs(s.to_owned()), "")?
        }
    })
}

/// `expr collate "C"`: code-point order, whatever the database's locale.
pub fn collate_c(expr: Expr) -> Expr {
    Expr::cust_with_exprs("$1 COLLATE \"C\"", [expr])
}

/// A comparison of a timestamp column with an RFC 3339 value. The column is compared at the
/// millisecond precision `meta` is rendered with, so the `lastModified` a client read back is
/// `eq` to the row (the column holds microseconds).
pub fn timestamp_compare(col: Expr, op: CompareOp, value: &Value, shown: &str) -> Result<Expr, Invalid> {
    let s = expect_str(value, shown)?;
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
        unsupported(format!(
            "'{shown}' compares with an RFC 3339 date-time, got '{}'",
            clip(s)
        ))
    })?;
    let truncated = Func::cust("date_trunc")
        .arg(Expr::cust("'milliseconds'"))
        .arg(col);
    ordering(
        truncated.into(),
        op,
        Expr::val(t.with_timezone(&chrono::Utc)),
        shown,
    )
}

/// A comparison of a uuid column (`id`): `eq`/`ne` use the index; the other operators compare
/// the text form. Ids are caseExact (RFC 7643 §3.1), so only the form the server renders
/// (lower-case, hyphenated) names a row; any other operand matches nothing.
pub fn uuid_compare(col: Expr, op: CompareOp, value: &Value, shown: &str) -> Result<Expr, Invalid> {
    let s = expect_str(value, shown)?;
    let id = uuid::Uuid::parse_str(s)
        .ok()
        .filter(|id| id.hyphenated().to_string() == s);
    match (op, id) {
        (CompareOp::Eq, Some(id)) => Ok(col.eq(id)),
        (CompareOp::Ne, Some(id)) => Ok(col.ne(id)),
        (CompareOp::Eq, None) => Ok(truth(false)),
        (CompareOp::Ne, None) => Ok(truth(true)),
        _ => text_compare(col.cast_as("text"), op, s, true),
    }
}

/// `lhs {op} rhs` for the operators that order (and `eq`, `ne`).
pub fn ordering(lhs: Expr, op: CompareOp, rhs: Expr, shown: &str) -> Result<Expr, Invalid> {
    Ok(match op {
        CompareOp::Eq => lhs.eq(rhs),
        CompareOp::Ne => lhs.ne(rhs),
        CompareOp::Gt => lhs.gt(rhs),
        CompareOp::Ge => lhs.gte(rhs),
        CompareOp::Lt => lhs.lt(rhs),
        CompareOp::Le => lhs.lte(rhs),
        _ => {
            return Err(unsupported(format!(
                "'{shown}' supports eq, ne, gt, ge, lt and le"
            )));
        }
    })
}

pub fn unsupported(detail: String) -> Invalid {
    invalid(Kind::InvalidFilter, detail)
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub fn expect_str<'a>(v: &'a Value, shown: &str) -> Result<&'a str, Invalid> {
    v.as_str()
        .ok_or_else(|| unsupported(format!("'{shown}' compares with a string value")))
}

/// Numbers (integer and decimal attributes) compare with a JSON number.
pub fn expect_number(v: &Value, shown: &str) -> Result<String, Invalid> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(unsupported(format!(
            "'{shown}' is a number: compare it with a number, without quotes"
        ))),
    }
}

/// Booleans compare with the literals `true` and `false` only: `"true"` is a string, and a
/// string never equals a boolean, so it is refused rather than silently matching nothing.
pub fn expect_bool(v: &Value, shown: &str) -> Result<bool, Invalid> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(unsupported(format!(
            "'{shown}' is a boolean: compare it with true or false, without quotes"
        ))),
    }
}

/// An attribute path as the client wrote it, for error details (cut short: a name may be
/// kilobytes long).
pub fn display(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &p.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&p.attr);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    clip(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::user_filter;
    use crate::scim::filter::parse;

    #[test]
    fn details_quote_long_input_cut_short() {
        // Found by fuzzing: a 2 KiB date string came back whole in the error detail.
        let long_date = format!("meta.lastModified gt \"2011-{}\"", "r".repeat(2000));
        let long_name = format!("{} eq \"x\"", "a".repeat(3000));
        for f in [long_date, long_name] {
            let e = user_filter::to_sql(&parse(&f).expect("parses"), crate::directory::Scope::OneType)
                .expect_err("refused");
            assert_eq!(e.kind, Kind::InvalidFilter);
            assert!(e.detail.len() < 300 && e.detail.contains('…'), "{}", e.detail);
        }
    }
}
