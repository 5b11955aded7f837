//! The User resource: required attributes, the product snapshot derived from it, and rendering
//! with `id`, `schemas` and `meta`.

use serde_json::{Map, Value};

use super::Invalid;
use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

pub type Doc = Map<String, Value>;

pub use super::meta::Meta;
pub use shared::domain::user::{active, external_id, snapshot, user_name};

/// Longest userName accepted (characters).
pub const MAX_USER_NAME_CHARS: usize = 512;

/// Checks what a stored user must have; run after normalisation and after PATCH.
pub fn validate(doc: &Doc) -> Result<(), Invalid> {
    super::required_name(user_name(doc), "userName", MAX_USER_NAME_CHARS)
}

/// The key userNames are compared by: IdPs change case freely (`Ada@X.com` vs `ada@x.com`),
/// and treating those as different users makes them loop on 409 (RFC 7643: caseExact false).
pub fn fold(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// The resource as a client sees it. `active` is always present: Okta and Entra read it back.
pub fn render(doc: &Doc, meta: &Meta, base_url: &str) -> Value {
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    if doc.contains_key(ENTERPRISE_USER_SCHEMA) {
        schemas.push(ENTERPRISE_USER_SCHEMA.into());
    }
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), meta.id.to_string().into());
    for (k, v) in doc {
        out.insert(k.clone(), v.clone());
    }
    out.insert("active".into(), active(doc).into());
    out.insert("meta".into(), meta.render("User", "Users", base_url));
    Value::Object(out)
}

/// One element of a user's read-only `groups` attribute (RFC 7643 §4.1.2): a group it is a
/// direct member of (groups do not nest here).
pub fn group_ref(group_id: uuid::Uuid, display_name: &str, base_url: &str) -> Value {
    serde_json::json!({
        "value": group_id.to_string(),
        "display": display_name,
        "$ref": format!("{base_url}/Groups/{group_id}"),
        "type": "direct",
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
        assert!(validate(&doc(json!({}))).is_err());
        assert!(validate(&doc(json!({"userName": "  "}))).is_err());
        assert!(validate(&doc(json!({"userName": "a"}))).is_ok());
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
