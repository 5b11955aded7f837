//! The SQL building blocks SCIM filters translate to, shared by the Users and Groups filters:
//! bound parameters, text comparisons (`eq`, `co`, `sw`, ... with LIKE escaping), orderings and
//! value checks. Values are always bound; only schema-derived names are spliced into SQL.

use sea_orm::Value as SqlValue;
use serde_json::Value;

use crate::scim::filter::{AttrPath, CompareOp, clip};
use crate::scim::{Invalid, Kind, invalid};

/// A SQL condition and the values of its placeholders.
pub struct SqlFilter {
    pub sql: String,
    pub values: Vec<SqlValue>,
}

/// Placeholder values of a condition being built; the first is `$first`.
pub struct Params {
    values: Vec<SqlValue>,
    first: usize,
}

impl Params {
    pub fn new(first: usize) -> Self {
        Self {
            values: Vec::new(),
            first,
        }
    }

    pub fn finish(self, sql: String) -> SqlFilter {
        SqlFilter {
            sql,
            values: self.values,
        }
    }

    /// Binds a value; returns its placeholder.
    pub fn bind(&mut self, v: impl Into<SqlValue>) -> String {
        self.values.push(v.into());
        format!("${}", self.first + self.values.len() - 1)
    }

    /// `already_folded`: the column holds folded text and `s` was folded the same way, else
    /// both sides are lowered by Postgres.
    pub fn text_compare(
        &mut self,
        col: &str,
        op: CompareOp,
        s: &str,
        already_folded: bool,
    ) -> Result<String, Invalid> {
        let rhs = |b: &mut Self, v: String| {
            let p = b.bind(v);
            if already_folded { p } else { format!("lower({p})") }
        };
        Ok(match op {
            CompareOp::Eq => format!("({col} = {})", rhs(self, s.to_owned())),
            CompareOp::Ne => format!("({col} is distinct from {})", rhs(self, s.to_owned())),
            CompareOp::Co => format!(
                "({col} like {} escape '\\')",
                rhs(self, format!("%{}%", like_escape(s)))
            ),
            CompareOp::Sw => format!(
                "({col} like {} escape '\\')",
                rhs(self, format!("{}%", like_escape(s)))
            ),
            CompareOp::Ew => format!(
                "({col} like {} escape '\\')",
                rhs(self, format!("%{}", like_escape(s)))
            ),
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                format!(
                    "({col} collate \"C\" {} {})",
                    ordering_sql(op, col)?,
                    rhs(self, s.to_owned())
                )
            }
        })
    }

    /// A comparison of a timestamp column with an RFC 3339 value. The column is compared at
    /// the millisecond precision `meta` is rendered with, so the `lastModified` a client read
    /// back is `eq` to the row (the column holds microseconds).
    pub fn timestamp_compare(
        &mut self,
        col: &str,
        op: CompareOp,
        value: &Value,
        shown: &str,
    ) -> Result<String, Invalid> {
        let s = expect_str(value, shown)?;
        let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            unsupported(format!(
                "'{shown}' compares with an RFC 3339 date-time, got '{}'",
                clip(s)
            ))
        })?;
        let p = self.bind(t.with_timezone(&chrono::Utc));
        Ok(format!(
            "date_trunc('milliseconds', {col}) {} {p}",
            ordering_sql(op, shown)?
        ))
    }

    /// A comparison of a uuid column (`id`): `eq`/`ne` use the index; the other operators
    /// compare the text form. Ids are caseExact (RFC 7643 §3.1), so only the form the server
    /// renders (lower-case, hyphenated) names a row; any other operand matches nothing.
    pub fn uuid_compare(
        &mut self,
        col: &str,
        op: CompareOp,
        value: &Value,
        shown: &str,
    ) -> Result<String, Invalid> {
        let s = expect_str(value, shown)?;
        let id = uuid::Uuid::parse_str(s)
            .ok()
            .filter(|id| id.hyphenated().to_string() == s);
        match (op, id) {
            (CompareOp::Eq, Some(id)) => Ok(format!("{col} = {}", self.bind(id))),
            (CompareOp::Ne, Some(id)) => Ok(format!("{col} <> {}", self.bind(id))),
            (CompareOp::Eq, None) => Ok("false".into()),
            (CompareOp::Ne, None) => Ok("true".into()),
            _ => self.text_compare(&format!("{col}::text"), op, s, true),
        }
    }
}

pub fn unsupported(detail: String) -> Invalid {
    invalid(Kind::InvalidFilter, detail)
}

pub fn ordering_sql(op: CompareOp, shown: &str) -> Result<&'static str, Invalid> {
    Ok(match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        _ => {
            return Err(unsupported(format!(
                "'{shown}' supports eq, ne, gt, ge, lt and le"
            )));
        }
    })
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub fn expect_str<'a>(v: &'a Value, shown: &str) -> Result<&'a str, Invalid> {
    v.as_str()
        .ok_or_else(|| unsupported(format!("'{shown}' compares with a string value")))
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
            let e = user_filter::to_sql(&parse(&f).expect("parses"), 2, crate::directory::Scope::OneType)
                .err()
                .expect("refused");
            assert_eq!(e.kind, Kind::InvalidFilter);
            assert!(e.detail.len() < 300 && e.detail.contains('…'), "{}", e.detail);
        }
    }
}
