//! Translates a parsed SCIM filter on Users into a SQL condition over `scim.users`, so filtering
//! happens in Postgres (indexed for userName, externalId and id) and never by loading a tenant.
//! Values are always bound parameters; attribute names come from the schema, never from input.
//! Where each attribute lives ([`target`]) is shared with sorting (`sort_sql`).

use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{Alias, BinOper, Expr, ExprTrait, Func, Query as Sql};
use serde_json::Value;
use shared::entity::scim_user::{Column, Entity};

use super::Scope;
use super::filter_sql::{
    and, display, exists, expect_bool, expect_number, expect_str, not, or, ordering, text_compare,
    timestamp_compare, truth, unsupported, uuid_compare,
};
use crate::scim::filter::{AttrPath, CompareOp, Filter};
use crate::scim::schema::{self, Attr, Type, user_resource};
use crate::scim::{Invalid, user};

/// The condition on `scim.users` a filter becomes.
pub fn to_sql(filter: &Filter, scope: Scope) -> Result<Expr, Invalid> {
    Builder { scope }.filter(filter)
}

/// The folded key when the whole filter is `userName eq "x"`: the lookup an IdP makes before
/// every create, which `users::list` answers through the key-first index.
pub fn user_name_eq(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } if matches!(target(path), Ok(Target::UserName)) => Some(user::fold(s)),
        _ => None,
    }
}

struct Builder {
    scope: Scope,
}

/// Where an attribute lives: a typed column, or a path inside the `resource` document.
pub(super) enum Target {
    Id,
    UserName,
    ExternalId,
    Active,
    Timestamp(Column),
    Json {
        keys: Vec<&'static str>,
        attr: &'static Attr,
    },
    /// A single-valued complex attribute named without a sub-attribute: compared by its
    /// `value` (if it has one), present when it holds any sub-attribute.
    Complex {
        keys: Vec<&'static str>,
        value: Option<&'static Attr>,
    },
    /// A multi-valued attribute and the sub-attribute named, if any (compared by `value`
    /// without one).
    Multi {
        keys: Vec<&'static str>,
        attr: &'static Attr,
        sub: Option<&'static Attr>,
    },
}

/// A column of `scim.users`, qualified (filters put it inside subqueries).
pub(super) fn col(c: Column) -> Expr {
    Expr::col((Entity, c))
}

impl Builder {
    fn filter(&self, f: &Filter) -> Result<Expr, Invalid> {
        Ok(match f {
            Filter::And(a, b) => and(self.filter(a)?, self.filter(b)?),
            Filter::Or(a, b) => or(self.filter(a)?, self.filter(b)?),
            Filter::Not(a) => not(self.filter(a)?),
            Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. }
                if self.scope == Scope::AllTypes
                    && !user_resource().knows(path.urn.as_deref(), &path.attr) =>
            {
                truth(false)
            }
            Filter::Present(path) => present(path)?,
            Filter::Compare { path, op, value } => compare(path, *op, value)?,
            Filter::ValuePath { path, filter } => value_path(path, filter)?,
        })
    }
}

fn present(path: &AttrPath) -> Result<Expr, Invalid> {
    Ok(match target(path)? {
        Target::Id | Target::UserName | Target::Active | Target::Timestamp(_) => truth(true),
        Target::ExternalId => col(Column::ExternalId)
            .is_not_null()
            .and(col(Column::ExternalId).ne("")),
        Target::Json { keys, .. } => non_empty(json_text(&keys)),
        // RFC 7644 §3.4.2.2: a complex attribute is present when it has a non-empty node.
        Target::Complex { keys, .. } => {
            Expr::expr(Func::coalesce([json_node(&keys), Expr::cust("'{}'::jsonb")]))
                .is_not_in([Expr::cust("'{}'::jsonb"), Expr::cust("'null'::jsonb")])
        }
        Target::Multi { keys, sub: None, .. } => {
            Expr::expr(Func::cust("jsonb_array_length").arg(json_array(&keys))).gt(Expr::Constant(0.into()))
        }
        Target::Multi {
            keys, sub: Some(sub), ..
        } => any_element(&keys, non_empty(element_field(sub))),
    })
}

/// `coalesce(expr, '') <> ''`
fn non_empty(expr: Expr) -> Expr {
    Expr::expr(Func::coalesce([expr, Expr::cust("''")])).ne(Expr::cust("''"))
}

fn compare(path: &AttrPath, op: CompareOp, value: &Value) -> Result<Expr, Invalid> {
    let target = target(path)?;
    let shown = display(path);
    match target {
        Target::Id => uuid_compare(col(Column::Id), op, value, &shown),
        Target::UserName => {
            let folded = user::fold(expect_str(value, &shown)?);
            text_compare(col(Column::UserNameKey), op, &folded, true)
        }
        Target::ExternalId => {
            let s = expect_str(value, &shown)?;
            text_compare(col(Column::ExternalId), op, s, true)
        }
        Target::Active => {
            let b = expect_bool(value, &shown)?;
            match op {
                CompareOp::Eq | CompareOp::Ne => ordering(col(Column::Active), op, Expr::val(b), &shown),
                _ => Err(unsupported(format!(
                    "'{shown}' is a boolean: only eq and ne apply"
                ))),
            }
        }
        Target::Timestamp(c) => timestamp_compare(col(c), op, value, &shown),
        Target::Json { keys, attr } => json_compare(json_text(&keys), attr, op, value, &shown),
        Target::Complex {
            mut keys,
            value: Some(sub),
        } => {
            keys.push(sub.name);
            json_compare(json_text(&keys), sub, op, value, &shown)
        }
        Target::Complex { value: None, .. } => {
            Err(unsupported(format!("'{shown}' is complex: name a sub-attribute")))
        }
        Target::Multi { keys, attr, sub } => {
            let inner = if attr.ty == Type::Complex {
                let sub = sub
                    .or_else(|| attr.sub_attr("value"))
                    .ok_or_else(|| unsupported(format!("'{shown}' is complex: name a sub-attribute")))?;
                json_compare(element_field(sub), sub, op, value, &shown)?
            } else {
                // A multi-valued simple attribute (a tenant's `skills: ["rust"]`): each value.
                json_compare(element_text(), attr, op, value, &shown)?
            };
            let any = any_element(&keys, inner);
            // Each element is compared on its own; without elements the attribute is
            // unassigned, and `ne` holds for an unassigned attribute (RFC 7643 §2.5).
            Ok(match op {
                CompareOp::Ne => Expr::expr(Func::cust("jsonb_array_length").arg(json_array(&keys)))
                    .eq(Expr::Constant(0.into()))
                    .or(any),
                _ => any,
            })
        }
    }
}

fn json_compare(expr: Expr, attr: &Attr, op: CompareOp, value: &Value, shown: &str) -> Result<Expr, Invalid> {
    match attr.ty {
        Type::Boolean => {
            let b = expect_bool(value, shown)?.to_string();
            match op {
                CompareOp::Eq => Ok(expr.eq(b)),
                CompareOp::Ne => Ok(expr.binary(BinOper::Custom("IS DISTINCT FROM"), b)),
                _ => Err(unsupported(format!(
                    "'{shown}' is a boolean: only eq and ne apply"
                ))),
            }
        }
        // Numbers as numbers: `9 < 10`, which as text they are not.
        t if t.is_number() => {
            let n = expect_number(value, shown)?;
            let (lhs, rhs) = (expr.cast_as("numeric"), Expr::val(n).cast_as("numeric"));
            match op {
                // `ne` holds for an unassigned attribute (RFC 7643 §2.5), as for strings.
                CompareOp::Ne => Ok(lhs.binary(BinOper::Custom("IS DISTINCT FROM"), rhs)),
                _ => ordering(lhs, op, rhs, shown),
            }
        }
        Type::DateTime => {
            let s = expect_str(value, shown)?;
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| unsupported(format!("'{shown}' compares with an RFC 3339 date-time")))?;
            ordering(
                expr.cast_as("timestamptz"),
                op,
                Expr::val(t.with_timezone(&chrono::Utc)),
                shown,
            )
        }
        _ => {
            let s = expect_str(value, shown)?;
            if attr.case_exact {
                text_compare(expr, op, s, true)
            } else {
                text_compare(Func::lower(expr).into(), op, s, false)
            }
        }
    }
}

fn value_path(path: &AttrPath, filter: &Filter) -> Result<Expr, Invalid> {
    let Target::Multi { keys, .. } = target(&AttrPath {
        sub: None,
        ..path.clone()
    })?
    else {
        return Err(unsupported(format!(
            "'{}[...]' needs a multi-valued attribute",
            display(path)
        )));
    };
    let attr = match &path.urn {
        Some(urn) if !user_resource().is_core_urn(urn) => None,
        _ => user_resource().core_attr(&path.attr),
    }
    .ok_or_else(|| unsupported(format!("unknown attribute '{}'", display(path))))?;
    Ok(any_element(&keys, element_filter(filter, attr)?))
}

/// A filter inside `attr[...]`: its paths name sub-attributes of each element `e`.
fn element_filter(f: &Filter, parent: &'static Attr) -> Result<Expr, Invalid> {
    Ok(match f {
        Filter::And(a, b) => and(element_filter(a, parent)?, element_filter(b, parent)?),
        Filter::Or(a, b) => or(element_filter(a, parent)?, element_filter(b, parent)?),
        Filter::Not(a) => not(element_filter(a, parent)?),
        Filter::Present(p) => non_empty(element_field(element_sub(parent, p)?)),
        Filter::Compare { path, op, value } => {
            let sub = element_sub(parent, path)?;
            json_compare(element_field(sub), sub, *op, value, &display(path))?
        }
        Filter::ValuePath { .. } => return Err(unsupported("value filters cannot be nested".into())),
    })
}

/// An element of a multi-valued attribute, inside [`any_element`].
fn element() -> Expr {
    Expr::col(Alias::new("e"))
}

/// The element `e` itself, as text.
fn element_text() -> Expr {
    element().binary(BinOper::Custom("#>>"), Expr::cust("'{}'"))
}

/// A sub-attribute of the element `e`, as text.
fn element_field(sub: &Attr) -> Expr {
    element().cast_json_field(sub.name)
}

/// Whether some element `e` of the multi-valued attribute at `keys` satisfies `cond`.
fn any_element(keys: &[&'static str], cond: Expr) -> Expr {
    exists(
        Sql::select()
            .from_function(
                Func::cust("jsonb_array_elements").arg(json_array(keys)),
                Alias::new("e"),
            )
            .and_where(cond)
            .to_owned(),
    )
}

/// Where a Users attribute lives. Unknown attributes are `invalidFilter` errors; sorting
/// rewords them.
pub(super) fn target(path: &AttrPath) -> Result<Target, Invalid> {
    let unknown = || unsupported(format!("unknown attribute '{}'", display(path)));
    let (ext_urn, attrs) = match &path.urn {
        None => (None, None),
        Some(urn) if user_resource().is_core_urn(urn) => (None, None),
        Some(urn) => {
            let (u, a) = user_resource().extension(urn).ok_or_else(unknown)?;
            (Some(u), Some(a))
        }
    };
    let attr = match attrs {
        Some(a) => schema::find(a, &path.attr),
        None => user_resource().core_attr(&path.attr),
    }
    .ok_or_else(unknown)?;
    if ext_urn.is_none() && path.sub.is_none() {
        match attr.name {
            "id" => return Ok(Target::Id),
            "userName" => return Ok(Target::UserName),
            "externalId" => return Ok(Target::ExternalId),
            "active" => return Ok(Target::Active),
            "password" => {
                return Err(unsupported(
                    "'password' is write-only: it cannot be filtered or sorted on".into(),
                ));
            }
            _ => {}
        }
    }
    if attr.name == "meta" {
        return match path.sub.as_deref().and_then(|s| attr.sub_attr(s)).map(|a| a.name) {
            Some("created") => Ok(Target::Timestamp(Column::CreatedAt)),
            Some("lastModified") => Ok(Target::Timestamp(Column::UpdatedAt)),
            _ => Err(unsupported(format!(
                "'{}' cannot be filtered or sorted on",
                display(path)
            ))),
        };
    }
    let mut keys: Vec<&'static str> = ext_urn.into_iter().collect();
    keys.push(attr.name);
    if attr.multi {
        let sub = match path.sub.as_deref() {
            Some(name) => Some(attr.sub_attr(name).ok_or_else(unknown)?),
            None => None,
        };
        return Ok(Target::Multi { keys, attr, sub });
    }
    match (&path.sub, attr.ty) {
        (Some(s), Type::Complex) => {
            let sub = attr.sub_attr(s).ok_or_else(unknown)?;
            keys.push(sub.name);
            Ok(Target::Json { keys, attr: sub })
        }
        (Some(_), _) => Err(unknown()),
        (None, Type::Complex) => Ok(Target::Complex {
            keys,
            value: attr.sub_attr("value"),
        }),
        (None, _) => Ok(Target::Json { keys, attr }),
    }
}

fn element_sub(parent: &'static Attr, p: &AttrPath) -> Result<&'static Attr, Invalid> {
    parent
        .sub_attr(&p.attr)
        .filter(|_| p.sub.is_none() && p.urn.is_none())
        .ok_or_else(|| unsupported(format!("'{}' has no sub-attribute '{}'", parent.name, display(p))))
}

/// The JSON node at `keys` in the document (`resource #> keys`), the path bound as a value.
fn json_node(keys: &[&str]) -> Expr {
    col(Column::Resource).binary(BinOper::Custom("#>"), path(keys))
}

/// The value at `keys` in the document, as text (`resource #>> keys`).
pub(super) fn json_text(keys: &[&str]) -> Expr {
    col(Column::Resource).binary(BinOper::Custom("#>>"), path(keys))
}

/// The multi-valued attribute at `keys`: always stored as an array (see scim::resource), `[]`
/// when absent.
pub(super) fn json_array(keys: &[&str]) -> Expr {
    Func::coalesce([json_node(keys), Expr::cust("'[]'::jsonb")]).into()
}

fn path(keys: &[&str]) -> Expr {
    Expr::val(keys.iter().map(|k| (*k).to_owned()).collect::<Vec<String>>())
}
