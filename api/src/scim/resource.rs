//! Normalising a SCIM resource received from a client: canonical attribute names (names are
//! case-insensitive on the wire), types checked against the schema, read-only and write-only
//! attributes (id, meta, groups, password) dropped, unknown attributes ignored, empty values
//! removed. The result is what the directory stores.

use serde_json::{Map, Value};

use super::schema::{Attr, Mutability, ResourceSchema, Type};
use super::{Invalid, Kind, invalid};

/// Longest string value accepted, in bytes: far above any real attribute, far below anything
/// that could hurt the database or the logs.
pub const MAX_STRING_BYTES: usize = 16 * 1024;
/// Most values accepted in one multi-valued attribute.
pub const MAX_MULTI_VALUES: usize = 100;

/// Normalises a whole resource body.
pub fn normalize(schema: &ResourceSchema, input: &Value) -> Result<Map<String, Value>, Invalid> {
    let Value::Object(obj) = input else {
        return Err(invalid(
            Kind::InvalidSyntax,
            "the request body must be a JSON object",
        ));
    };
    lists_core_schema(schema, obj)?;
    normalize_attributes(schema, obj)
}

/// Normalises the attributes of a resource, whatever its `schemas` say: a stored document (which
/// keeps none) read again.
pub fn normalize_attributes(
    schema: &ResourceSchema,
    obj: &Map<String, Value>,
) -> Result<Map<String, Value>, Invalid> {
    let mut out = Map::new();
    for (key, value) in obj {
        merge_attribute(schema, &mut out, key, value)?;
    }
    Ok(out)
}

/// RFC 7643 §3: `schemas` is required and names the resource's core schema. A body without it
/// is refused rather than guessed at: a User body sent to `/Groups` by a misconfigured client
/// would otherwise be stored as a nameless group. Every IdP we replay sends it (docs/idps.md).
fn lists_core_schema(schema: &ResourceSchema, obj: &Map<String, Value>) -> Result<(), Invalid> {
    let schemas = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v);
    let listed = schemas.and_then(Value::as_array).is_some_and(|s| {
        s.iter()
            .any(|u| u.as_str().is_some_and(|u| schema.is_core_urn(u)))
    });
    if listed {
        return Ok(());
    }
    let found = match schemas {
        None | Some(Value::Null) => "it has none".to_owned(),
        Some(v) => format!("it has {v}"),
    };
    Err(invalid(
        Kind::InvalidSyntax,
        format!(
            "'schemas' must list \"{}\" (RFC 7643 §3); {found}",
            schema.core_urn
        ),
    ))
}

/// Sets one top-level attribute (or a whole extension object) of `out` from a client value;
/// a null or empty value removes it.
pub fn merge_attribute(
    schema: &ResourceSchema,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), Invalid> {
    if key.eq_ignore_ascii_case("schemas") {
        return check_schemas(value);
    }
    if is_urn(key) {
        if schema.is_core_urn(key) {
            // `{"urn:...:core:2.0:User": {"userName": ...}}`: core attributes under their URN.
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    merge_attribute(schema, out, k, v)?;
                }
            }
            return Ok(());
        }
        if let Some((urn, attrs)) = schema.extension(key) {
            match normalize_object(attrs, value, urn)? {
                Some(v) => out.insert(urn.to_owned(), v),
                None => out.remove(urn),
            };
        }
        // Extensions we do not implement are ignored, like unknown attributes.
        return Ok(());
    }
    let Some(attr) = schema.core_attr(key) else {
        return Ok(());
    };
    if matches!(attr.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        return Ok(());
    }
    match normalize_value(attr, value, attr.name)? {
        Some(v) => out.insert(attr.name.to_owned(), v),
        None => out.remove(attr.name),
    };
    Ok(())
}

pub fn is_urn(key: &str) -> bool {
    // `get`, not indexing: byte 4 may fall inside a multi-byte character ("urn˖...").
    key.len() > 4 && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

fn check_schemas(value: &Value) -> Result<(), Invalid> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        Value::Null => Ok(()),
        _ => Err(invalid(
            Kind::InvalidSyntax,
            "'schemas' must be an array of schema URNs",
        )),
    }
}

/// Checks a stored extension object against (new) definitions of its attributes: the error a
/// client sending it would get.
pub fn check_extension(attrs: &'static [Attr], value: &Value, urn: &str) -> Result<(), Invalid> {
    normalize_object(attrs, value, urn).map(|_| ())
}

/// Normalises the value of one attribute; `Ok(None)` means "no value".
pub fn normalize_value(attr: &Attr, value: &Value, path: &str) -> Result<Option<Value>, Invalid> {
    if value.is_null() {
        return Ok(None);
    }
    if !attr.multi {
        return normalize_single(attr, value, path);
    }
    let items: &[Value] = match value {
        Value::Array(items) => items,
        // OneLogin sends a multi-valued complex attribute as one object (`"emails": {...}`);
        // that can only mean a list of one. A bare string cannot: `"emails": "x"` might be the
        // value, the type or anything else, so it is refused (RFC 7643 §2.4).
        single @ Value::Object(_) if attr.ty == Type::Complex => std::slice::from_ref(single),
        _ => {
            return Err(invalid(
                Kind::InvalidValue,
                format!(
                    "'{path}' is multi-valued: send an array such as [{}]",
                    example(attr)
                ),
            ));
        }
    };
    if items.len() > MAX_MULTI_VALUES {
        return Err(invalid(
            Kind::InvalidValue,
            format!(
                "'{path}' has {} values; at most {MAX_MULTI_VALUES} are accepted",
                items.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        // The bare-value shorthand [`normalize_single`] allows (Entra's `manager: "<id>"`) is for
        // single-valued attributes: `"emails": ["x"]` is as ambiguous as `"emails": "x"`.
        if attr.ty == Type::Complex && !matches!(item, Value::Object(_) | Value::Null) {
            return Err(invalid(
                Kind::InvalidValue,
                format!("'{path}' values are objects such as {}", example(attr)),
            ));
        }
        if let Some(v) = normalize_single(attr, item, path)? {
            out.push(v);
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(invalid(
            Kind::InvalidValue,
            format!("'{path}' has more than one value marked primary"),
        ));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// One value of `attr` as a client should send it, for error messages.
fn example(attr: &Attr) -> &'static str {
    match attr.ty {
        Type::Complex if attr.sub_attr("value").is_some() => r#"{"value": "…"}"#,
        Type::Complex => "{…}",
        Type::Boolean => "true",
        Type::Integer | Type::Decimal => "1",
        _ => r#""…""#,
    }
}

fn normalize_single(attr: &Attr, value: &Value, path: &str) -> Result<Option<Value>, Invalid> {
    match attr.ty {
        Type::Complex => {
            // Some IdPs send a complex attribute with a `value` as the bare value
            // (Entra ID's `manager: "<id>"`).
            if let (Value::String(_), Some(_)) = (value, attr.sub_attr("value")) {
                let mut m = Map::new();
                m.insert("value".into(), value.clone());
                return normalize_object(attr.sub, &Value::Object(m), path);
            }
            normalize_object(attr.sub, value, path)
        }
        Type::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            // Entra ID sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(invalid(
                Kind::InvalidValue,
                format!("'{path}' must be a boolean (true or false)"),
            )),
        },
        // Numbers as JSON numbers; a number in a string (as Entra ID sends every extension
        // value) is read as the number it spells.
        Type::Integer => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(t) => t.trim().parse::<i64>().ok(),
                _ => None,
            };
            n.map(|n| Some(Value::from(n)))
                .ok_or_else(|| invalid(Kind::InvalidValue, format!("'{path}' must be an integer")))
        }
        Type::Decimal => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(t) => t.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            n.and_then(serde_json::Number::from_f64)
                .map(|n| Some(Value::Number(n)))
                .ok_or_else(|| invalid(Kind::InvalidValue, format!("'{path}' must be a number")))
        }
        Type::String | Type::Reference | Type::Binary | Type::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => {
                check_string(s, path)?;
                if attr.ty == Type::DateTime && chrono::DateTime::parse_from_rfc3339(s).is_err() {
                    return Err(invalid(
                        Kind::InvalidValue,
                        format!("'{path}' must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z"),
                    ));
                }
                Ok(Some(value.clone()))
            }
            _ => Err(invalid(Kind::InvalidValue, format!("'{path}' must be a string"))),
        },
    }
}

fn normalize_object(attrs: &'static [Attr], value: &Value, path: &str) -> Result<Option<Value>, Invalid> {
    let Value::Object(obj) = value else {
        return Err(invalid(Kind::InvalidValue, format!("'{path}' must be an object")));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(sub) = super::schema::find(attrs, k) else {
            continue;
        };
        if matches!(sub.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
            continue;
        }
        let sub_path = format!("{path}.{}", sub.name);
        if let Some(v) = normalize_value(sub, v, &sub_path)? {
            out.insert(sub.name.to_owned(), v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn check_string(s: &str, path: &str) -> Result<(), Invalid> {
    if s.len() > MAX_STRING_BYTES {
        return Err(invalid(
            Kind::InvalidValue,
            format!(
                "'{path}' is {} bytes long; at most {MAX_STRING_BYTES} are accepted",
                s.len()
            ),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(
            Kind::InvalidValue,
            format!("'{path}' contains control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE};
    use super::*;
    use serde_json::json;

    fn with_schemas(mut v: Value) -> Value {
        if let Some(obj) = v.as_object_mut() {
            obj.entry("schemas")
                .or_insert(json!([super::super::schema::USER_SCHEMA]));
        }
        v
    }

    fn norm(v: Value) -> Result<Value, Invalid> {
        normalize(&USER_RESOURCE, &with_schemas(v)).map(Value::Object)
    }

    #[test]
    fn attribute_names_are_matched_case_insensitively_and_stored_canonically() {
        let out = norm(json!({"USERNAME": "a", "Name": {"givenname": "Ada"}})).unwrap();
        assert_eq!(out, json!({"userName": "a", "name": {"givenName": "Ada"}}));
    }

    #[test]
    fn password_id_meta_and_groups_are_dropped() {
        let out = norm(json!({"userName": "a", "password": "hunter2", "id": "x", "meta": {}, "groups": []}))
            .unwrap();
        assert_eq!(out, json!({"userName": "a"}));
    }

    #[test]
    fn string_booleans_from_entra_are_accepted() {
        let out = norm(json!({"userName": "a", "active": "False"})).unwrap();
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn wrong_types_are_invalid_values() {
        let err = norm(json!({"userName": 5})).unwrap_err();
        assert_eq!(err.kind, Kind::InvalidValue);
        assert!(err.detail.contains("userName"));
        assert_eq!(
            norm(json!({"userName": "a", "active": 1})).unwrap_err().kind,
            Kind::InvalidValue
        );
        assert_eq!(
            norm(json!({"userName": "a", "emails": [7]})).unwrap_err().kind,
            Kind::InvalidValue
        );
    }

    #[test]
    fn a_bare_string_manager_becomes_a_manager_object() {
        let out = norm(json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": "m-1"}})).unwrap();
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["manager"], json!({"value": "m-1"}));
    }

    #[test]
    fn a_manager_with_only_a_display_name_is_no_manager() {
        let out =
            norm(json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": {"displayName": "Boss"}}}))
                .unwrap();
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn unknown_attributes_and_extensions_are_ignored() {
        let out = norm(json!({"userName": "a", "shoeSize": 42, "urn:example:custom": {"x": 1}})).unwrap();
        assert_eq!(out, json!({"userName": "a"}));
    }

    #[test]
    fn two_primary_emails_are_rejected() {
        let err = norm(json!({"userName": "a", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}))
        .unwrap_err();
        assert_eq!(err.kind, Kind::InvalidValue);
    }

    #[test]
    fn control_characters_and_huge_strings_are_rejected() {
        assert!(norm(json!({"userName": "a\u{0}b"})).is_err());
        assert!(norm(json!({"userName": "x".repeat(MAX_STRING_BYTES + 1)})).is_err());
    }

    #[test]
    fn keys_with_multi_byte_characters_near_the_start_are_just_unknown_attributes() {
        // Found by fuzzing: slicing "urn˖..." at byte 4 panicked (a 500 for any client).
        let out = norm(json!({"userName": "a", "urn˖etf:x": 1, "ur˖": 2, "é": 3})).unwrap();
        assert_eq!(out, json!({"userName": "a"}));
        assert!(!is_urn("urn˖etf:params"));
        assert!(is_urn("URN:ietf:params"));
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert_eq!(norm(json!([1])).unwrap_err().kind, Kind::InvalidSyntax);
    }
}
