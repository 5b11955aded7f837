//! The User resource: required attributes, the product snapshot derived from it, and rendering
//! with `id`, `schemas` and `meta`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use shared::messages::UserSnapshot;
use uuid::Uuid;

use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use super::{Invalid, Kind, invalid};

pub type Doc = Map<String, Value>;

/// Longest userName accepted (characters).
pub const MAX_USER_NAME_CHARS: usize = 512;

pub fn user_name(doc: &Doc) -> Option<&str> {
    doc.get("userName").and_then(Value::as_str)
}

/// Checks what a stored user must have; run after normalisation and after PATCH.
pub fn validate(doc: &Doc) -> Result<(), Invalid> {
    match user_name(doc) {
        None => Err(invalid(Kind::InvalidValue, "'userName' is required")),
        Some(u) if u.trim().is_empty() => Err(invalid(Kind::InvalidValue, "'userName' must not be blank")),
        Some(u) if u.chars().count() > MAX_USER_NAME_CHARS => Err(invalid(
            Kind::InvalidValue,
            format!("'userName' is longer than {MAX_USER_NAME_CHARS} characters"),
        )),
        Some(_) => Ok(()),
    }
}

/// The key userNames are compared by: IdPs change case freely (`Ada@X.com` vs `ada@x.com`),
/// and treating those as different users makes them loop on 409 (RFC 7643: caseExact false).
pub fn fold(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// `active` defaults to true: a user pushed without it is meant to have access.
pub fn active(doc: &Doc) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

pub fn external_id(doc: &Doc) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

fn str_at<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str)
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

/// The primary email, else the first work email, else the first email.
pub fn preferred_email(doc: &Doc) -> Option<String> {
    let emails = doc.get("emails").and_then(Value::as_array)?;
    let value = |e: &Value| e.get("value").and_then(Value::as_str).map(str::to_owned);
    emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| {
            emails
                .iter()
                .filter(|e| str_at(Some(e), "type").is_some_and(|t| t.eq_ignore_ascii_case("work")))
                .find_map(value)
        })
        .or_else(|| emails.iter().find_map(value))
}

/// What the product gets for this user.
pub fn snapshot(doc: &Doc, deleted: bool) -> UserSnapshot {
    let name = doc.get("name");
    let ext = doc.get(ENTERPRISE_USER_SCHEMA);
    UserSnapshot {
        user_name: user_name(doc).unwrap_or_default().to_owned(),
        external_id: owned(external_id(doc)),
        active: active(doc) && !deleted,
        deleted,
        display_name: owned(doc.get("displayName").and_then(Value::as_str)),
        given_name: owned(str_at(name, "givenName")),
        family_name: owned(str_at(name, "familyName")),
        email: preferred_email(doc),
        emails: doc
            .get("emails")
            .and_then(Value::as_array)
            .map(|es| {
                es.iter()
                    .filter_map(|e| owned(str_at(Some(e), "value")))
                    .collect()
            })
            .unwrap_or_default(),
        title: owned(doc.get("title").and_then(Value::as_str)),
        department: owned(str_at(ext, "department")),
        employee_number: owned(str_at(ext, "employeeNumber")),
        manager: owned(str_at(ext.and_then(|e| e.get("manager")), "value")),
    }
}

/// Server-side metadata of a stored resource.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub version: i64,
}

impl Meta {
    /// Weak ETag: equal versions mean semantically equal resources.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
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
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(meta.created),
            "lastModified": timestamp(meta.last_modified),
            "location": format!("{base_url}/Users/{}", meta.id),
            "version": meta.etag(),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Doc {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_primary_email_wins() {
        let d = doc(json!({"emails": [{"value": "w@x", "type": "work"}, {"value": "p@x", "primary": true}]}));
        assert_eq!(preferred_email(&d).as_deref(), Some("p@x"));
    }

    #[test]
    fn without_a_primary_the_first_work_email_wins() {
        let d = doc(json!({"emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "Work"}]}));
        assert_eq!(preferred_email(&d).as_deref(), Some("w@x"));
    }

    #[test]
    fn otherwise_the_first_email_wins() {
        let d = doc(json!({"emails": [{"value": "h@x", "type": "home"}, {"value": "o@x"}]}));
        assert_eq!(preferred_email(&d).as_deref(), Some("h@x"));
        assert_eq!(preferred_email(&doc(json!({}))), None);
    }

    #[test]
    fn the_snapshot_carries_names_department_title_and_manager() {
        let d = doc(json!({
            "userName": "ada", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "title": "Engineer",
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m"}}
        }));
        let s = snapshot(&d, false);
        assert_eq!(s.given_name.as_deref(), Some("Ada"));
        assert_eq!(s.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(s.title.as_deref(), Some("Engineer"));
        assert_eq!(s.department.as_deref(), Some("R&D"));
        assert_eq!(s.manager.as_deref(), Some("m"));
        assert!(s.active);
    }

    #[test]
    fn a_deleted_user_is_inactive() {
        let s = snapshot(&doc(json!({"userName": "a", "active": true})), true);
        assert!(!s.active && s.deleted);
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
