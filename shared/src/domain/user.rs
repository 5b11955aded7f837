//! The User as the pipeline understands it, derived from the stored SCIM document (canonical
//! attribute names, see the api's `scim::resource`). Shared by the api (which derives the
//! change message) and the worker's verifier (which re-derives it from the directory).

use serde_json::{Map, Value};

use crate::domain::mapping::Mapping;
use crate::domain::roles;
use crate::messages::UserSnapshot;

pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub type Doc = Map<String, Value>;

pub fn user_name(doc: &Doc) -> Option<&str> {
    doc.get("userName").and_then(Value::as_str)
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

/// What the product gets for this user under the tenant's mapping of attributes.
pub fn snapshot_mapped(doc: &Doc, deleted: bool, mapping: &Mapping) -> UserSnapshot {
    let mut s = snapshot(doc, deleted);
    if !mapping.is_empty() {
        mapping.apply(doc, &mut s);
    }
    s
}

/// What the product gets for this user (the default projection, no mapping).
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
        cost_center: owned(str_at(ext, "costCenter")),
        organization: owned(str_at(ext, "organization")),
        division: owned(str_at(ext, "division")),
        attributes: None,
        roles: roles::values(doc, "roles"),
        primary_role: roles::primary(doc, "roles"),
        entitlements: roles::values(doc, "entitlements"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m"},
                "costCenter": "CC-1", "organization": "Acme", "division": "Labs"}
        }));
        let s = snapshot(&d, false);
        assert_eq!(s.cost_center.as_deref(), Some("CC-1"));
        assert_eq!(s.organization.as_deref(), Some("Acme"));
        assert_eq!(s.division.as_deref(), Some("Labs"));
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
}
