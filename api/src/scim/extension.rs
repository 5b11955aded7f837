//! Schema extensions a tenant defines for its users (`PUT /admin/api/tenants/{id}/schemas/{urn}`):
//! an RFC 7643 §7 schema document, checked and completed here, and its attributes as the rest of
//! the schema machinery (normalisation, PATCH, filters, sorting, `/Schemas`) uses them.
//!
//! Attribute definitions are `&'static` throughout that machinery, so a tenant's definitions are
//! interned: each distinct document is turned into [`Attr`]s once per process and kept for its
//! life. Memory is bounded by the distinct documents an operator ever writes, not by requests or
//! tenants (tenants with the same definition share it).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value, json};

use super::schema::{Attr, ENTERPRISE_USER_SCHEMA, Mutability, ResourceSchema, Returned, Type};
use super::{Invalid, Kind};

type Doc = Map<String, Value>;

/// Attributes per extension, and sub-attributes per complex attribute, at most.
const MAX_ATTRIBUTES: usize = 100;
const MAX_NAME: usize = 64;
const MAX_URN: usize = 200;
const MAX_DESCRIPTION: usize = 1000;

/// A checked extension: its URN, the completed document, and its attributes.
#[derive(Debug, Clone)]
pub struct Extension {
    pub urn: String,
    /// The schema document as `/Schemas` serves it (without `meta`).
    pub document: Value,
    pub attrs: &'static [Attr],
}

/// Why a document is not a schema this server can take; the text names the offending part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

fn refused(msg: impl Into<String>) -> Refused {
    Refused(msg.into())
}

/// Whether `urn` may name a tenant's extension: a URN, not a core or message schema of SCIM, not
/// the enterprise extension (which every tenant has).
pub fn check_urn(urn: &str) -> Result<(), Refused> {
    let lower = urn.to_ascii_lowercase();
    if !lower.starts_with("urn:") || urn.len() > MAX_URN || urn.split(':').count() < 3 {
        return Err(refused(format!(
            "'{urn}' is not an extension URN such as urn:ietf:params:scim:schemas:extension:acme:2.0:User"
        )));
    }
    if !urn
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_'))
    {
        return Err(refused(format!(
            "'{urn}': a URN here has letters, digits and : . - _ only"
        )));
    }
    if lower.starts_with("urn:ietf:params:scim:schemas:core:")
        || lower.starts_with("urn:ietf:params:scim:api:")
        || lower == ENTERPRISE_USER_SCHEMA.to_ascii_lowercase()
    {
        return Err(refused(format!(
            "'{urn}' is a schema of SCIM itself; a tenant's extension needs a URN of its own"
        )));
    }
    Ok(())
}

/// Checks a schema document for the extension `urn` and completes it with the RFC's defaults.
pub fn parse(urn: &str, doc: &Value) -> Result<Extension, Refused> {
    check_urn(urn)?;
    let Value::Object(obj) = doc else {
        return Err(refused("a schema document is a JSON object"));
    };
    for key in obj.keys() {
        if !["schemas", "id", "name", "description", "attributes", "meta"].contains(&key.as_str()) {
            return Err(refused(format!("'{key}' is not part of a schema document")));
        }
    }
    if let Some(id) = obj.get("id")
        && !id.as_str().is_some_and(|id| id.eq_ignore_ascii_case(urn))
    {
        return Err(refused(format!("'id' must be the URN of the path, '{urn}'")));
    }
    let name = optional_text(obj, "name", "name")?;
    let description = optional_text(obj, "description", "description")?;
    let Some(Value::Array(attributes)) = obj.get("attributes") else {
        return Err(refused("'attributes' must be an array of attribute definitions"));
    };
    let defs = attribute_list(attributes, None)?;
    let mut document = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "attributes": defs.iter().map(|d| d.document.clone()).collect::<Vec<_>>(),
    });
    if let Some(n) = name {
        document["name"] = json!(n);
    }
    if let Some(d) = description {
        document["description"] = json!(d);
    }
    Ok(Extension {
        urn: urn.to_owned(),
        attrs: intern(&document, defs),
        document,
    })
}

/// An attribute definition, checked, before interning.
struct Def {
    document: Value,
    attr: Attr,
    sub: Vec<Def>,
}

fn attribute_list(list: &[Value], parent: Option<&str>) -> Result<Vec<Def>, Refused> {
    let whose = parent.map_or("the schema".to_owned(), |p| format!("'{p}'"));
    if list.is_empty() || list.len() > MAX_ATTRIBUTES {
        return Err(refused(format!(
            "{whose} must define between 1 and {MAX_ATTRIBUTES} attributes"
        )));
    }
    let mut defs: Vec<Def> = Vec::with_capacity(list.len());
    for item in list {
        let def = attribute(item, parent)?;
        if defs
            .iter()
            .any(|d| d.attr.name.eq_ignore_ascii_case(def.attr.name))
        {
            return Err(refused(format!(
                "{whose} defines '{}' twice (names are case-insensitive)",
                def.attr.name
            )));
        }
        defs.push(def);
    }
    Ok(defs)
}

fn attribute(item: &Value, parent: Option<&str>) -> Result<Def, Refused> {
    let Value::Object(a) = item else {
        return Err(refused("each attribute definition is a JSON object"));
    };
    let name = match a.get("name").and_then(Value::as_str) {
        Some(n) if valid_name(n) => n,
        Some(n) => {
            return Err(refused(format!(
                "'{n}' is not an attribute name: a letter, then letters, digits, '-' or '_', at most {MAX_NAME}"
            )));
        }
        None => return Err(refused("each attribute needs a 'name'")),
    };
    let path = match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    };
    const KNOWN: [&str; 12] = [
        "name",
        "type",
        "multiValued",
        "description",
        "required",
        "caseExact",
        "mutability",
        "returned",
        "uniqueness",
        "subAttributes",
        "canonicalValues",
        "referenceTypes",
    ];
    if let Some(k) = a.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(refused(format!(
            "'{path}': '{k}' is not an attribute characteristic of RFC 7643 §7"
        )));
    }
    let ty = match a.get("type").and_then(Value::as_str) {
        Some("string") => Type::String,
        Some("boolean") => Type::Boolean,
        Some("decimal") => Type::Decimal,
        Some("integer") => Type::Integer,
        Some("dateTime") => Type::DateTime,
        Some("reference") => Type::Reference,
        Some("binary") => Type::Binary,
        Some("complex") => Type::Complex,
        _ => {
            return Err(refused(format!(
                "'{path}': 'type' must be one of string, boolean, decimal, integer, dateTime, reference, binary, complex"
            )));
        }
    };
    let flag = |key: &str| -> Result<bool, Refused> {
        match a.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(refused(format!("'{path}': '{key}' must be true or false"))),
        }
    };
    let multi = flag("multiValued")?;
    let required = flag("required")?;
    // Binary and reference values are compared exactly (RFC 7643 §2.3.6, §2.3.7).
    let case_exact = flag("caseExact")? || matches!(ty, Type::Binary | Type::Reference);
    let mutability = match a.get("mutability").and_then(Value::as_str) {
        None if a.get("mutability").is_none() => Mutability::ReadWrite,
        Some("readWrite") => Mutability::ReadWrite,
        Some("immutable") => Mutability::Immutable,
        Some("writeOnly") => {
            return Err(refused(format!(
                "'{path}': a writeOnly attribute is a secret, and this server keeps no secrets of users (passwords are never stored either)"
            )));
        }
        Some("readOnly") => {
            return Err(refused(format!(
                "'{path}': a readOnly attribute would never have a value (this server sets none of a tenant's attributes)"
            )));
        }
        _ => {
            return Err(refused(format!(
                "'{path}': 'mutability' must be readWrite or immutable"
            )));
        }
    };
    let returned = match a.get("returned").and_then(Value::as_str) {
        None if a.get("returned").is_none() => Returned::Default,
        Some("always") => Returned::Always,
        Some("never") => Returned::Never,
        Some("default") => Returned::Default,
        Some("request") => Returned::Request,
        _ => {
            return Err(refused(format!(
                "'{path}': 'returned' must be always, never, default or request"
            )));
        }
    };
    let uniqueness = match a.get("uniqueness").and_then(Value::as_str) {
        None if a.get("uniqueness").is_none() => "none",
        Some("none") => "none",
        Some(u @ ("server" | "global")) => {
            return Err(refused(format!(
                "'{path}': uniqueness '{u}' is not offered for a tenant's attributes; use none"
            )));
        }
        _ => {
            return Err(refused(format!("'{path}': 'uniqueness' must be none")));
        }
    };
    let description = optional_text(a, "description", &path)?;
    let canonical = string_list(a, "canonicalValues", &path)?;
    let references = string_list(a, "referenceTypes", &path)?;
    if references.is_some() && ty != Type::Reference {
        return Err(refused(format!("'{path}': only a reference has referenceTypes")));
    }
    let sub = match (ty, a.get("subAttributes")) {
        (Type::Complex, Some(Value::Array(list))) => {
            if parent.is_some() {
                return Err(refused(format!(
                    "'{path}': a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
                )));
            }
            attribute_list(list, Some(&path))?
        }
        (Type::Complex, _) => {
            return Err(refused(format!(
                "'{path}': a complex attribute needs 'subAttributes'"
            )));
        }
        (_, Some(_)) => {
            return Err(refused(format!(
                "'{path}': only a complex attribute has subAttributes"
            )));
        }
        (_, None) => Vec::new(),
    };
    let mut document = json!({
        "name": name,
        "type": ty.as_str(),
        "multiValued": multi,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability.as_str(),
        "returned": returned.as_str(),
        "uniqueness": uniqueness,
    });
    if let Some(d) = description {
        document["description"] = json!(d);
    }
    if let Some(c) = canonical {
        document["canonicalValues"] = json!(c);
    }
    if ty == Type::Reference {
        document["referenceTypes"] = json!(references.unwrap_or_else(|| vec!["external".into()]));
    }
    if ty == Type::Complex {
        document["subAttributes"] = sub.iter().map(|d| d.document.clone()).collect();
    }
    Ok(Def {
        document,
        attr: Attr {
            // Interned with the rest of the definition (see `intern`).
            name: leak_str(name),
            ty,
            multi,
            case_exact,
            required,
            // Tenant-defined attributes follow the RFC: removing one unassigns it.
            removable: true,
            mutability,
            returned,
            sub: &[],
        },
        sub,
    })
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn optional_text<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    whose: &str,
) -> Result<Option<&'a str>, Refused> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_DESCRIPTION => Ok(Some(s)),
        Some(_) => Err(refused(format!(
            "'{whose}': '{key}' must be a string of at most {MAX_DESCRIPTION} bytes"
        ))),
    }
}

fn string_list(obj: &Map<String, Value>, key: &str, whose: &str) -> Result<Option<Vec<String>>, Refused> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= MAX_ATTRIBUTES => items
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| s.len() <= MAX_NAME * 4)
                    .map(str::to_owned)
                    .ok_or_else(|| refused(format!("'{whose}': '{key}' must be a list of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(refused(format!("'{whose}': '{key}' must be a list of strings"))),
    }
}

/// Checks the rules a stored user's extension values must keep beyond their types: `required`
/// attributes (of an extension the user has, and sub-attributes of each complex value) and
/// `immutable` ones (once set, a change is refused). `before` is the user a PUT or PATCH
/// changes.
pub fn check_values(schema: &ResourceSchema, doc: &Doc, before: Option<&Doc>) -> Result<(), Invalid> {
    for (urn, attrs) in schema.extensions {
        let Some(Value::Object(values)) = doc.get(*urn) else {
            continue;
        };
        let old = before.and_then(|b| b.get(*urn)).and_then(Value::as_object);
        for a in attrs.iter() {
            let path = format!("{urn}:{}", a.name);
            let value = values.get(a.name);
            if a.required && value.is_none() {
                return Err(Invalid {
                    kind: Kind::InvalidValue,
                    detail: format!("'{path}' is required"),
                });
            }
            if a.mutability == Mutability::Immutable
                && let Some(was) = old.and_then(|o| o.get(a.name))
                && value != Some(was)
            {
                return Err(Invalid {
                    kind: Kind::Mutability,
                    detail: format!("'{path}' is immutable: it keeps the value it was given first"),
                });
            }
            let items = match value {
                Some(Value::Array(items)) => items.as_slice(),
                Some(v) => std::slice::from_ref(v),
                None => &[],
            };
            for sub in a.sub.iter().filter(|s| s.required) {
                if items.iter().any(|v| v.get(sub.name).is_none()) {
                    return Err(Invalid {
                        kind: Kind::InvalidValue,
                        detail: format!("'{path}.{}' is required in each value", sub.name),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Whether a list's `attributes` names the extension attribute `urn:name` (or a sub-attribute
/// of it, or the whole extension).
fn names(requested: &[String], urn: &str, name: &str) -> bool {
    requested.iter().any(|r| {
        if r.eq_ignore_ascii_case(urn) {
            return true;
        }
        let Some(rest) = r
            .get(..urn.len())
            .filter(|p| p.eq_ignore_ascii_case(urn))
            .and_then(|_| r[urn.len()..].strip_prefix(':'))
        else {
            return false;
        };
        rest.split('.')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Applies `returned` to the extension values of a rendered user: `never` is never shown,
/// `request` only when `requested` (a list's `attributes`) names it or its extension.
pub fn apply_returned(schema: &ResourceSchema, body: &mut Map<String, Value>, requested: &[String]) {
    for (urn, attrs) in schema.extensions {
        let Some(Value::Object(values)) = body.get_mut(*urn) else {
            continue;
        };
        for a in attrs.iter() {
            let shown = match a.returned {
                Returned::Never => false,
                Returned::Request => names(requested, urn, a.name),
                Returned::Always | Returned::Default => true,
            };
            if !shown {
                values.remove(a.name);
            }
        }
        if values.is_empty() {
            body.remove(*urn);
        }
    }
}

/// Interned names: the same name in many documents is kept once.
fn leak_str(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(s) {
        return n;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(s.to_owned(), leaked);
    leaked
}

/// The attributes of a completed document, made once per distinct document.
fn intern(document: &Value, defs: Vec<Def>) -> &'static [Attr] {
    static DOCUMENTS: OnceLock<Mutex<HashMap<String, &'static [Attr]>>> = OnceLock::new();
    let key = document.to_string();
    let mut docs = DOCUMENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(attrs) = docs.get(&key) {
        return attrs;
    }
    let attrs: &'static [Attr] = Box::leak(
        defs.into_iter()
            .map(|d| {
                let sub: &'static [Attr] = Box::leak(
                    d.sub
                        .into_iter()
                        .map(|s| s.attr)
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                );
                Attr { sub, ..d.attr }
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    docs.insert(key, attrs);
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    const URN: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

    fn doc(attributes: Value) -> Value {
        json!({"id": URN, "name": "Acme", "attributes": attributes})
    }

    #[test]
    fn a_document_is_completed_with_the_rfc_defaults() {
        let e = parse(
            URN,
            &doc(json!([
                {"name": "location", "type": "string"},
                {"name": "badges", "type": "complex", "multiValued": true,
                 "subAttributes": [{"name": "code", "type": "integer", "required": true}]},
                {"name": "hired", "type": "dateTime", "mutability": "immutable", "returned": "always"},
            ])),
        )
        .unwrap();
        let a = &e.document["attributes"];
        assert_eq!(a[0]["mutability"], "readWrite");
        assert_eq!(a[0]["returned"], "default");
        assert_eq!(a[0]["uniqueness"], "none");
        assert_eq!(a[0]["caseExact"], false);
        assert_eq!(a[1]["subAttributes"][0]["type"], "integer");
        assert_eq!(a[2]["mutability"], "immutable");
        assert_eq!(a[2]["returned"], "always");
        assert_eq!(e.attrs.len(), 3);
        assert_eq!(e.attrs[1].sub[0].ty, Type::Integer);
        assert!(e.attrs[1].multi);
        assert_eq!(e.document["name"], "Acme");
    }

    #[test]
    fn the_same_document_is_interned_once() {
        let d = doc(json!([{"name": "location", "type": "string"}]));
        let a = parse(URN, &d).unwrap();
        let b = parse(URN, &d).unwrap();
        assert!(std::ptr::eq(a.attrs, b.attrs));
    }

    #[test]
    fn what_is_not_a_valid_schema_is_refused_by_name() {
        let cases = [
            (json!({"attributes": []}), "between 1 and"),
            (json!({"attributes": [{"name": "x"}]}), "'x': 'type'"),
            (
                json!({"attributes": [{"name": "1x", "type": "string"}]}),
                "not an attribute name",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]}),
                "twice",
            ),
            (
                json!({"attributes": [{"name": "c", "type": "complex"}]}),
                "needs 'subAttributes'",
            ),
            (
                json!({"attributes": [{"name": "c", "type": "complex", "subAttributes": [
                    {"name": "d", "type": "complex", "subAttributes": [{"name": "e", "type": "string"}]}]}]}),
                "cannot be complex",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "subAttributes": []}]}),
                "only a complex",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "uniqueness": "server"}]}),
                "not offered",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "mutability": "readOnly"}]}),
                "readOnly",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "mutability": "writeOnly"}]}),
                "secret",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "shoeSize": 3}]}),
                "'shoeSize'",
            ),
            (
                json!({"attributes": [{"name": "s", "type": "string", "required": "yes"}]}),
                "true or false",
            ),
            (
                json!({"id": "urn:other:x", "attributes": [{"name": "s", "type": "string"}]}),
                "'id' must be",
            ),
            (json!({"attributes": {}}), "'attributes' must be"),
            (
                json!({"extra": 1, "attributes": [{"name": "s", "type": "string"}]}),
                "'extra'",
            ),
        ];
        for (d, want) in cases {
            let err = parse(URN, &d).unwrap_err();
            assert!(err.0.contains(want), "{d}: {}", err.0);
        }
    }

    #[test]
    fn urns_of_scim_itself_are_refused() {
        for urn in [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:api:messages:2.0:PatchOp",
            "not-a-urn",
            "urn:x",
            "urn:acme:with space",
        ] {
            assert!(check_urn(urn).is_err(), "{urn}");
        }
        assert!(check_urn(URN).is_ok());
        assert!(check_urn("urn:acme:schemas:hr:1.0").is_ok());
    }
}
