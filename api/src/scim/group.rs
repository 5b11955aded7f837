//! The Group resource (RFC 7643 §4.2): required attributes, the product snapshot, and rendering
//! with `id`, `schemas`, `meta` and, when asked for, `members`. The stored document never holds
//! `members`: those live one row per (group, user) (see `directory::memberships`).

use serde_json::{Map, Value, json};
use shared::messages::GroupSnapshot;

use super::meta::Meta;
use super::resource;
use super::schema::{GROUP_RESOURCE, GROUP_SCHEMA};
use super::{Invalid, Kind, invalid, members};

pub type Doc = Map<String, Value>;

/// Longest displayName accepted (characters).
pub const MAX_DISPLAY_NAME_CHARS: usize = 512;

pub fn display_name(doc: &Doc) -> Option<&str> {
    doc.get("displayName").and_then(Value::as_str)
}

pub fn external_id(doc: &Doc) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

/// The key displayNames are unique by, per tenant: IdPs change case freely, and two groups
/// differing only in case would be one group to an admin (and to Okta's group push matching).
pub fn fold(display_name: &str) -> String {
    display_name.to_lowercase()
}

/// A group body (POST or PUT) split into its stored document and its member references.
#[derive(Debug)]
pub struct Parsed {
    pub doc: Doc,
    /// `None` when the body has no `members`; `Some(empty)` for `"members": []`.
    pub members: Option<Vec<members::Sent>>,
}

/// Normalises a POST/PUT body. `members` is taken out before the normaliser sees it, so a
/// group may be given more members than the normaliser's per-attribute cap; the body size
/// limit bounds them instead.
pub fn parse(body: &Value) -> Result<Parsed, Invalid> {
    let Value::Object(obj) = body else {
        return Err(invalid(
            Kind::InvalidSyntax,
            "the request body must be a JSON object",
        ));
    };
    let mut rest = obj.clone();
    let mut refs = None;
    let keys: Vec<String> = rest
        .keys()
        .filter(|k| members::is_members_key(k))
        .cloned()
        .collect();
    for key in keys {
        if let Some(v) = rest.remove(&key) {
            let ids = members::ids(&v)?;
            refs.get_or_insert_with(Vec::new).extend(ids);
        }
    }
    let mut doc = resource::normalize(&GROUP_RESOURCE, &Value::Object(rest))?;
    // `{"urn:...:core:2.0:Group": {"members": [...]}}` reaches the normaliser; keep the document
    // free of members all the same.
    if let Some(v) = doc.remove("members") {
        refs.get_or_insert_with(Vec::new).extend(members::ids(&v)?);
    }
    validate(&doc)?;
    Ok(Parsed { doc, members: refs })
}

/// Checks what a stored group must have; run after normalisation and after PATCH.
pub fn validate(doc: &Doc) -> Result<(), Invalid> {
    super::required_name(display_name(doc), "displayName", MAX_DISPLAY_NAME_CHARS)
}

/// What the product needs of a group; members travel separately, one message per pair.
pub fn snapshot(doc: &Doc, deleted: bool) -> GroupSnapshot {
    GroupSnapshot {
        display_name: display_name(doc).unwrap_or_default().to_owned(),
        external_id: external_id(doc).map(str::to_owned),
        deleted,
    }
}

/// The resource as a client sees it. `members` is rendered only when given (lists leave it out
/// unless asked); an empty membership is rendered as `[]` so an IdP reading it back sees it.
pub fn render(doc: &Doc, meta: &Meta, base_url: &str, members: Option<Vec<Value>>) -> Value {
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    out.insert("id".into(), meta.id.to_string().into());
    for (k, v) in doc {
        out.insert(k.clone(), v.clone());
    }
    if let Some(m) = members {
        out.insert("members".into(), Value::Array(m));
    }
    out.insert("meta".into(), meta.render("Group", "Groups", base_url));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    #[test]
    fn a_body_is_split_into_the_document_and_member_references() {
        let p = parse(&json!({
            "schemas": [GROUP_SCHEMA],
            "DisplayName": "Eng",
            "id": "ignored",
            "externalId": "okta-1",
            "Members": [{"value": "u-1", "display": "Ada"}, {"value": "u-2"}]
        }))
        .expect("valid");
        assert_eq!(
            Value::Object(p.doc),
            json!({"displayName": "Eng", "externalId": "okta-1"})
        );
        let values = p.members.map(members::values);
        assert_eq!(values, Some(vec!["u-1".to_owned(), "u-2".to_owned()]));
    }

    #[test]
    fn a_body_without_members_leaves_the_membership_alone_and_an_empty_list_clears_it() {
        assert_eq!(
            parse(&json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng"}))
                .expect("valid")
                .members,
            None
        );
        assert_eq!(
            parse(&json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng", "members": []}))
                .expect("valid")
                .members,
            Some(vec![])
        );
    }

    #[test]
    fn more_members_than_the_normaliser_cap_are_accepted() {
        let many: Vec<Value> = (0..resource::MAX_MULTI_VALUES + 50)
            .map(|i| json!({"value": format!("u-{i}")}))
            .collect();
        let p =
            parse(&json!({"schemas": [GROUP_SCHEMA], "displayName": "Big", "members": many})).expect("valid");
        assert_eq!(p.members.map(|m| m.len()), Some(resource::MAX_MULTI_VALUES + 50));
    }

    #[test]
    fn a_display_name_is_required_and_not_blank() {
        for body in [
            json!({"schemas": [GROUP_SCHEMA]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": " "}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": 5}),
        ] {
            assert_eq!(
                parse(&body).expect_err("invalid").kind,
                Kind::InvalidValue,
                "{body}"
            );
        }
    }

    #[test]
    fn rendering_adds_schemas_id_meta_and_members_only_when_given() {
        let doc = parse(&json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng"}))
            .expect("valid")
            .doc;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let meta = Meta {
            id,
            created: now,
            last_modified: now,
            version: 2,
            revision: 2,
        };
        let r = render(&doc, &meta, "https://h/scim/v2", None);
        assert_eq!(r["schemas"], json!([GROUP_SCHEMA]));
        assert_eq!(r["meta"]["resourceType"], "Group");
        assert_eq!(r["meta"]["location"], format!("https://h/scim/v2/Groups/{id}"));
        assert!(r.get("members").is_none());
        let u = Uuid::now_v7();
        let r = render(
            &doc,
            &meta,
            "https://h/scim/v2",
            Some(vec![
                json!({"value": u.to_string(), "display": "ada", "type": "User",
                             "$ref": format!("https://h/scim/v2/Users/{u}")}),
            ]),
        );
        assert_eq!(
            r["members"],
            json!([{"value": u.to_string(), "display": "ada", "type": "User",
                    "$ref": format!("https://h/scim/v2/Users/{u}")}])
        );
    }

    #[test]
    fn display_names_fold_unicode_case() {
        assert_eq!(fold("ÉQUIPE Nord"), "équipe nord");
    }
}
