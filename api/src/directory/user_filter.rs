//! Translates a parsed SCIM filter on Users into a SQL condition over `scim.users`, so filtering
//! happens in Postgres (indexed for userName, externalId and id) and never by loading a tenant.
//! Values are always bound parameters; attribute names come from the schema, never from input.
//! Where each attribute lives ([`target`]) is shared with sorting (`sort_sql`).

use serde_json::Value;

use super::Scope;
use super::filter_sql::{Params, SqlFilter, display, expect_bool, expect_str, ordering_sql, unsupported};
use crate::scim::filter::{AttrPath, CompareOp, Filter};
use crate::scim::schema::{self, Attr, Type, USER_RESOURCE};
use crate::scim::{Invalid, user};

/// `first_param` is the number of the first `$n` placeholder this condition may use.
pub fn to_sql(filter: &Filter, first_param: usize, scope: Scope) -> Result<SqlFilter, Invalid> {
    let mut b = Builder {
        p: Params::new(first_param),
        scope,
    };
    let sql = b.filter(filter)?;
    Ok(b.p.finish(sql))
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
    p: Params,
    scope: Scope,
}

/// Where an attribute lives: a typed column, or a path inside the `resource` document.
pub(super) enum Target {
    Id,
    UserName,
    ExternalId,
    Active,
    Timestamp(&'static str),
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

impl Builder {
    fn filter(&mut self, f: &Filter) -> Result<String, Invalid> {
        Ok(match f {
            Filter::And(a, b) => format!("({} and {})", self.filter(a)?, self.filter(b)?),
            Filter::Or(a, b) => format!("({} or {})", self.filter(a)?, self.filter(b)?),
            Filter::Not(a) => format!("(not coalesce({}, false))", self.filter(a)?),
            Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. }
                if self.scope == Scope::AllTypes && !USER_RESOURCE.knows(path.urn.as_deref(), &path.attr) =>
            {
                "false".into()
            }
            Filter::Present(path) => self.present(path)?,
            Filter::Compare { path, op, value } => self.compare(path, *op, value)?,
            Filter::ValuePath { path, filter } => self.value_path(path, filter)?,
        })
    }

    fn present(&mut self, path: &AttrPath) -> Result<String, Invalid> {
        Ok(match target(path)? {
            Target::Id | Target::UserName | Target::Active | Target::Timestamp(_) => "true".into(),
            Target::ExternalId => "(external_id is not null and external_id <> '')".into(),
            Target::Json { keys, .. } => {
                format!("(coalesce({}, '') <> '')", json_text("resource", &keys))
            }
            // RFC 7644 §3.4.2.2: a complex attribute is present when it has a non-empty node.
            Target::Complex { keys, .. } => format!(
                "(coalesce(resource #> '{{{}}}', '{{}}'::jsonb) not in ('{{}}'::jsonb, 'null'::jsonb))",
                quoted(&keys)
            ),
            Target::Multi { keys, sub: None, .. } => {
                format!("(jsonb_array_length({}) > 0)", json_array("resource", &keys))
            }
            Target::Multi {
                keys, sub: Some(sub), ..
            } => format!(
                "exists (select 1 from jsonb_array_elements({}) e where coalesce(e->>'{}', '') <> '')",
                json_array("resource", &keys),
                sub.name
            ),
        })
    }

    fn compare(&mut self, path: &AttrPath, op: CompareOp, value: &Value) -> Result<String, Invalid> {
        let target = target(path)?;
        let shown = display(path);
        match target {
            Target::Id => self.p.uuid_compare("id", op, value, &shown),
            Target::UserName => {
                let folded = user::fold(expect_str(value, &shown)?);
                self.p.text_compare("user_name_key", op, &folded, true)
            }
            Target::ExternalId => {
                let s = expect_str(value, &shown)?.to_owned();
                self.p.text_compare("external_id", op, &s, true)
            }
            Target::Active => {
                let b = expect_bool(value, &shown)?;
                match op {
                    CompareOp::Eq => Ok(format!("active = {}", self.p.bind(b))),
                    CompareOp::Ne => Ok(format!("active <> {}", self.p.bind(b))),
                    _ => Err(unsupported(format!(
                        "'{shown}' is a boolean: only eq and ne apply"
                    ))),
                }
            }
            Target::Timestamp(col) => self.p.timestamp_compare(col, op, value, &shown),
            Target::Json { keys, attr } => {
                self.json_compare(&json_text("resource", &keys), attr, op, value, &shown)
            }
            Target::Complex {
                mut keys,
                value: Some(sub),
            } => {
                keys.push(sub.name);
                self.json_compare(&json_text("resource", &keys), sub, op, value, &shown)
            }
            Target::Complex { value: None, .. } => {
                Err(unsupported(format!("'{shown}' is complex: name a sub-attribute")))
            }
            Target::Multi { keys, attr, sub } => {
                let sub = sub
                    .or_else(|| attr.sub_attr("value"))
                    .ok_or_else(|| unsupported(format!("'{shown}' is complex: name a sub-attribute")))?;
                let inner = self.json_compare(&format!("(e->>'{}')", sub.name), sub, op, value, &shown)?;
                let array = json_array("resource", &keys);
                let any = format!("exists (select 1 from jsonb_array_elements({array}) e where {inner})");
                // Each element is compared on its own; without elements the attribute is
                // unassigned, and `ne` holds for an unassigned attribute (RFC 7643 §2.5).
                Ok(match op {
                    CompareOp::Ne => format!("(jsonb_array_length({array}) = 0 or {any})"),
                    _ => any,
                })
            }
        }
    }

    fn json_compare(
        &mut self,
        expr: &str,
        attr: &Attr,
        op: CompareOp,
        value: &Value,
        shown: &str,
    ) -> Result<String, Invalid> {
        match attr.ty {
            Type::Boolean => {
                let b = expect_bool(value, shown)?;
                let p = self.p.bind(b.to_string());
                match op {
                    CompareOp::Eq => Ok(format!("({expr} = {p})")),
                    CompareOp::Ne => Ok(format!("({expr} is distinct from {p})")),
                    _ => Err(unsupported(format!(
                        "'{shown}' is a boolean: only eq and ne apply"
                    ))),
                }
            }
            Type::DateTime => {
                let s = expect_str(value, shown)?;
                let t = chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| unsupported(format!("'{shown}' compares with an RFC 3339 date-time")))?;
                let p = self.p.bind(t.with_timezone(&chrono::Utc));
                Ok(format!(
                    "(({expr})::timestamptz {} {p})",
                    ordering_sql(op, shown)?
                ))
            }
            _ => {
                let s = expect_str(value, shown)?.to_owned();
                if attr.case_exact {
                    self.p.text_compare(expr, op, &s, true)
                } else {
                    self.p.text_compare(&format!("lower({expr})"), op, &s, false)
                }
            }
        }
    }

    fn value_path(&mut self, path: &AttrPath, filter: &Filter) -> Result<String, Invalid> {
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
            Some(urn) if !USER_RESOURCE.is_core_urn(urn) => None,
            _ => USER_RESOURCE.core_attr(&path.attr),
        }
        .ok_or_else(|| unsupported(format!("unknown attribute '{}'", display(path))))?;
        let inner = self.element_filter(filter, attr)?;
        Ok(format!(
            "exists (select 1 from jsonb_array_elements({}) e where {inner})",
            json_array("resource", &keys)
        ))
    }

    /// A filter inside `attr[...]`: its paths name sub-attributes of each element `e`.
    fn element_filter(&mut self, f: &Filter, parent: &'static Attr) -> Result<String, Invalid> {
        Ok(match f {
            Filter::And(a, b) => {
                format!(
                    "({} and {})",
                    self.element_filter(a, parent)?,
                    self.element_filter(b, parent)?
                )
            }
            Filter::Or(a, b) => {
                format!(
                    "({} or {})",
                    self.element_filter(a, parent)?,
                    self.element_filter(b, parent)?
                )
            }
            Filter::Not(a) => format!("(not coalesce({}, false))", self.element_filter(a, parent)?),
            Filter::Present(p) => {
                let sub = element_sub(parent, p)?;
                format!("(coalesce(e->>'{}', '') <> '')", sub.name)
            }
            Filter::Compare { path, op, value } => {
                let sub = element_sub(parent, path)?;
                self.json_compare(&format!("(e->>'{}')", sub.name), sub, *op, value, &display(path))?
            }
            Filter::ValuePath { .. } => return Err(unsupported("value filters cannot be nested".into())),
        })
    }
}

/// Where a Users attribute lives. Unknown attributes are `invalidFilter` errors; sorting
/// rewords them.
pub(super) fn target(path: &AttrPath) -> Result<Target, Invalid> {
    let unknown = || unsupported(format!("unknown attribute '{}'", display(path)));
    let (ext_urn, attrs) = match &path.urn {
        None => (None, None),
        Some(urn) if USER_RESOURCE.is_core_urn(urn) => (None, None),
        Some(urn) => {
            let (u, a) = USER_RESOURCE.extension(urn).ok_or_else(unknown)?;
            (Some(u), Some(a))
        }
    };
    let attr = match attrs {
        Some(a) => schema::find(a, &path.attr),
        None => USER_RESOURCE.core_attr(&path.attr),
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
            Some("created") => Ok(Target::Timestamp("created_at")),
            Some("lastModified") => Ok(Target::Timestamp("updated_at")),
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

pub(super) fn json_text(doc: &str, keys: &[&str]) -> String {
    format!("({doc} #>> '{{{}}}')", quoted(keys))
}

pub(super) fn json_array(doc: &str, keys: &[&str]) -> String {
    // Multi-valued attributes are always stored as arrays (see scim::resource).
    format!("coalesce({doc} #> '{{{}}}', '[]'::jsonb)", quoted(keys))
}

fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(",")
}
