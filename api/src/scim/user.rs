//! The User resource: required attributes, the product snapshot derived from it, and rendering
//! with `id`, `schemas` and `meta`.

use serde_json::{Map, Value};

use super::Invalid;
use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA, user_resource};

pub type Doc = Map<String, Value>;

pub use super::meta::Meta;
pub use shared::domain::user::{active, external_id, snapshot, user_name};

/// Longest userName accepted (characters).
pub const MAX_USER_NAME_CHARS: usize = 512;

/// Checks what a stored user must have; run after normalisation (POST, PUT) and after PATCH.
/// `before` is the stored user a PUT or PATCH changes (`None` for a POST). A userName is held
/// to [`super::identifier`] when it is set or changed, not when it merely stays: a user stored
/// before that rule must still be deactivated or edited by its IdP.
pub fn validate(doc: &Doc, before: Option<&Doc>) -> Result<(), Invalid> {
    super::required_name(user_name(doc), "userName", MAX_USER_NAME_CHARS)?;
    match user_name(doc) {
        Some(name) if before.and_then(user_name) != Some(name) => super::identifier(name, "userName")?,
        _ => {}
    }
    super::extension::check_values(user_resource(), doc, before)
}

/// The key userNames are compared by: IdPs change case freely (`Ada@X.com` vs `ada@x.com`),
/// and treating those as different users makes them loop on 409 (RFC 7643: caseExact false).
pub fn fold(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// The resource as a client sees it. `active` is always present: Okta and Entra read it back.
pub fn render(doc: &Doc, meta: &Meta, base_url: &str) -> Value {
    render_for(doc, meta, base_url, &[])
}

/// [`render`] for a response whose `attributes` are `requested`: the tenant's extension
/// attributes returned only on request are shown when named there.
pub fn render_for(doc: &Doc, meta: &Meta, base_url: &str, requested: &[String]) -> Value {
    let schema = user_resource();
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("id".into(), meta.id.to_string().into());
    for (k, v) in doc {
        // Values of an extension the tenant no longer defines stay stored, unseen.
        if super::resource::is_urn(k) && schema.extension(k).is_none() {
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    super::extension::apply_returned(schema, &mut out, requested);
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    schemas.extend(
        schema
            .extensions
            .iter()
            .filter(|(urn, _)| out.contains_key(*urn))
            .map(|(urn, _)| Value::from(*urn)),
    );
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("active".into(), active(doc).into());
    out.insert("meta".into(), meta.render("User", "Users", base_url));
    Value::Object(out)
}

/// Completes the enterprise `manager` of a rendered user whose manager is the tenant's user `id`:
/// `$ref` is that user's location and `displayName` its display name (both read-only, RFC 7643
/// §4.3, derived here rather than stored, so a renamed manager shows the new name).
pub fn describe_manager(body: &mut Value, id: uuid::Uuid, display_name: Option<&str>, base_url: &str) {
    let Some(manager) = body
        .get_mut(ENTERPRISE_USER_SCHEMA)
        .and_then(|e| e.get_mut("manager"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    manager.insert("$ref".into(), format!("{base_url}/Users/{id}").into());
    match display_name {
        Some(name) => manager.insert("displayName".into(), name.into()),
        None => manager.remove("displayName"),
    };
}

/// One element of a user's read-only `groups` attribute (RFC 7643 §4.1.2): a group it is a
/// member of, `direct` or `indirect` (through child groups).
pub fn group_ref(group_id: uuid::Uuid, display_name: &str, direct: bool, base_url: &str) -> Value {
    serde_json::json!({
        "value": group_id.to_string(),
        "display": display_name,
        "$ref": format!("{base_url}/Groups/{group_id}"),
        "type": if direct { "direct" } else { "indirect" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn doc(v: Value) -> Doc {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn user_names_fold_unicode_case() {
        assert_eq!(fold("ÅSA@Example.COM"), "åsa@example.com");
    }

    #[test]
    fn a_user_name_is_required_and_not_blank() {
        assert!(validate(&doc(json!({})), None).is_err());
        assert!(validate(&doc(json!({"userName": "  "})), None).is_err());
        assert!(validate(&doc(json!({"userName": "a"})), None).is_ok());
    }

    fn refusal(name: &str) -> String {
        let e = validate(&doc(json!({ "userName": name })), None).unwrap_err();
        assert_eq!(e.kind, super::super::Kind::InvalidValue, "{name:?}");
        e.detail
    }

    #[test]
    fn user_names_with_whitespace_at_either_end_are_refused() {
        for name in ["alice ", " alice", "alice\u{a0}", "\u{3000}alice", "alice\t"] {
            assert!(refusal(name).contains("begin or end with whitespace"), "{name:?}");
        }
        assert!(validate(&doc(json!({"userName": "Ada Lovelace"})), None).is_ok());
    }

    #[test]
    fn user_names_with_control_or_invisible_format_characters_are_refused_naming_them() {
        for (name, found) in [
            ("al\u{200B}ice", "U+200B at character 3"),
            ("alice\u{200C}x", "U+200C"),
            ("alice\u{200D}x", "U+200D"),
            ("ali\u{2060}ce", "U+2060"),
            ("\u{FEFF}alice", "U+FEFF at character 1"),
            ("alice\u{200E}x", "U+200E"),
            ("alice\u{200F}x", "U+200F"),
            ("a\u{202A}b", "U+202A"),
            ("a\u{202E}cod.exe", "U+202E"),
            ("a\u{2066}b\u{2069}", "U+2066"),
            ("a\u{AD}b", "U+00AD"),
            ("a\u{E0041}b", "U+E0041"),
        ] {
            let detail = refusal(name);
            assert!(
                detail.contains("invisible format characters"),
                "{name:?}: {detail}"
            );
            assert!(detail.contains(found), "{name:?}: {detail}");
        }
        for name in ["a\tb", "a\nb", "a\u{85}b", "a\u{7f}b"] {
            assert!(refusal(name).contains("control characters"), "{name:?}");
        }
        assert!(refusal("a\u{2028}b").contains("line or paragraph separators"));
    }

    #[test]
    fn letters_marks_and_emoji_sequences_of_any_script_are_fine() {
        for name in [
            "élise@acme.test",
            "e\u{301}lise@acme.test",
            "Ünïcødé.用户@例え.テスト",
            "مستخدم@مثال.اختبار",
            "👩\u{200D}💻.dev@acme.test",
            "👩🏽\u{200D}💻@acme.test",
            "🏳\u{FE0F}\u{200D}🌈@acme.test",
        ] {
            assert!(
                validate(&doc(json!({ "userName": name })), None).is_ok(),
                "{name:?}"
            );
        }
        // A joiner only joins emoji: between digits or letters it is a spoof.
        assert!(refusal("1\u{200D}2@acme.test").contains("U+200D"));
        assert!(refusal("👩\u{200D}a@acme.test").contains("U+200D"));
    }

    #[test]
    fn a_stored_user_name_from_before_the_rule_does_not_block_other_changes() {
        let legacy = doc(json!({"userName": "legacy ", "active": true}));
        let deactivated = doc(json!({"userName": "legacy ", "active": false}));
        assert!(validate(&deactivated, Some(&legacy)).is_ok());
        // But it cannot be set anew, nor changed into another such name.
        assert!(validate(&deactivated, None).is_err());
        let renamed = doc(json!({"userName": "legacy\u{200B}", "active": true}));
        assert!(validate(&renamed, Some(&legacy)).is_err());
        let fixed = doc(json!({"userName": "legacy", "active": true}));
        assert!(validate(&fixed, Some(&legacy)).is_ok());
    }

    #[test]
    fn rendering_adds_schemas_id_active_and_meta() {
        let d = doc(json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"department": "D"}}));
        let id = Uuid::now_v7();
        let now = Utc::now();
        let meta = Meta {
            id,
            created: now,
            last_modified: now,
            version: 4,
            revision: 4,
        };
        let r = render(&d, &meta, "https://h/scim/v2");
        assert_eq!(r["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        assert_eq!(r["id"], id.to_string());
        assert_eq!(r["active"], true);
        assert_eq!(r["meta"]["resourceType"], "User");
        assert_eq!(r["meta"]["version"], "W/\"4\"");
        assert_eq!(r["meta"]["location"], format!("https://h/scim/v2/Users/{id}"));
    }
}
