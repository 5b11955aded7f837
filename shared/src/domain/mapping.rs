//! A tenant's mapping of SCIM attributes into `product.users`: each rule copies the value at a
//! SCIM attribute path (`title`, `name.middleName`, `urn:…:acme:2.0:User:location`,
//! `urn:…:acme:2.0:User:desk.floor`) into a product column (replacing the column's default
//! source) or into `attributes.<key>`. The api checks rules against the tenant's schema and
//! stores them with canonical attribute names; here they are applied, by the api when it
//! derives a change message and by `scim-worker verify`/`reconcile` when they re-derive one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::messages::UserSnapshot;

/// The product columns a rule may fill: the text columns a user's profile fills (the keys and
/// names the pipeline itself relies on, `user_name`, `email`, the names, are not remappable).
pub const COLUMNS: [&str; 6] = [
    "department",
    "job_title",
    "employee_number",
    "cost_center",
    "organization",
    "division",
];

/// Longest key under `attributes`.
pub const MAX_KEY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The SCIM attribute path, canonical (as stored in the user's document).
    pub from: String,
    /// A product column of [`COLUMNS`], or `attributes.<key>`.
    pub to: String,
}

/// Where a rule's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Column(&'static str),
    Attribute(&'a str),
}

impl Rule {
    pub fn target(&self) -> Option<Target<'_>> {
        if let Some(key) = self.to.strip_prefix("attributes.") {
            return valid_key(key).then_some(Target::Attribute(key));
        }
        COLUMNS.iter().find(|c| **c == self.to).map(|c| Target::Column(c))
    }
}

/// Whether `key` may name a value under `attributes`: letters, digits, `_` and `-`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A tenant's rules (none: the default projection, `attributes` empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub rules: Vec<Rule>,
}

/// The value at a canonical path: `attr`, `attr.sub`, `urn:…:attr` or `urn:…:attr.sub`. Of a
/// multi-valued attribute, the whole list (a sub-attribute: each value's).
pub fn value_at<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<Value> {
    let (container, rest): (&'a Map<String, Value>, &str) = match path.rfind(':') {
        Some(i) if path.starts_with("urn:") || path.starts_with("URN:") => {
            (doc.get(&path[..i])?.as_object()?, &path[i + 1..])
        }
        _ => (doc, path),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let v = container.get(attr)?;
    match (v, sub) {
        (v, None) => Some(v.clone()),
        (Value::Array(items), Some(s)) => {
            let subs: Vec<Value> = items.iter().filter_map(|i| i.get(s).cloned()).collect();
            (!subs.is_empty()).then_some(Value::Array(subs))
        }
        (Value::Object(o), Some(s)) => o.get(s).cloned(),
        _ => None,
    }
}

/// A value as a text column holds it: strings as they are, numbers and booleans spelled, of a
/// list the primary value (else the first), of an object its `value`.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())
            .and_then(as_text),
        Value::Object(o) => o.get("value").and_then(as_text),
        Value::Null => None,
    }
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the rules to a snapshot derived from `doc`: columns they name take the mapped
    /// value (none when the user has none), `attributes` gets the mapped keys that have values.
    pub fn apply(&self, doc: &Map<String, Value>, s: &mut UserSnapshot) {
        let mut attributes = Map::new();
        for rule in &self.rules {
            let value = value_at(doc, &rule.from);
            match rule.target() {
                Some(Target::Attribute(key)) => {
                    if let Some(v) = value.filter(|v| !v.is_null()) {
                        attributes.insert(key.to_owned(), v);
                    }
                }
                Some(Target::Column(column)) => {
                    let text = value.as_ref().and_then(as_text);
                    match column {
                        "department" => s.department = text,
                        "job_title" => s.title = text,
                        "employee_number" => s.employee_number = text,
                        "cost_center" => s.cost_center = text,
                        "organization" => s.organization = text,
                        "division" => s.division = text,
                        _ => {}
                    }
                }
                None => {}
            }
        }
        s.attributes = (!attributes.is_empty()).then_some(attributes);
    }
}

/// The tenant's mapping as stored (none stored, or unreadable: the default projection).
pub async fn of_tenant(
    db: &impl sea_orm::ConnectionTrait,
    tenant: uuid::Uuid,
) -> Result<Mapping, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let row = crate::entity::scim_tenant_mapping::Entity::find_by_id(tenant)
        .one(db)
        .await?;
    Ok(row
        .and_then(|r| serde_json::from_value::<Vec<Rule>>(r.rules).ok())
        .map(|rules| Mapping { rules })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

    fn doc() -> Map<String, Value> {
        json!({
            "userName": "ada", "title": "Engineer",
            "emails": [{"value": "a@x", "type": "home"}, {"value": "p@x", "primary": true}],
            ACME: {"location": "Berlin", "badge": 7, "desk": {"floor": 3}, "skills": ["rust", "sql"]}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn rule(from: &str, to: &str) -> Rule {
        Rule {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn values_are_found_at_core_and_extension_paths() {
        let d = doc();
        assert_eq!(value_at(&d, "title"), Some(json!("Engineer")));
        assert_eq!(value_at(&d, &format!("{ACME}:location")), Some(json!("Berlin")));
        assert_eq!(value_at(&d, &format!("{ACME}:desk.floor")), Some(json!(3)));
        assert_eq!(value_at(&d, "emails.value"), Some(json!(["a@x", "p@x"])));
        assert_eq!(value_at(&d, "nickName"), None);
        assert_eq!(value_at(&d, "urn:other:x:location"), None);
    }

    #[test]
    fn rules_fill_columns_and_attributes() {
        let m = Mapping {
            rules: vec![
                rule(&format!("{ACME}:location"), "department"),
                rule(&format!("{ACME}:badge"), "employee_number"),
                rule(&format!("{ACME}:skills"), "attributes.skills"),
                rule(&format!("{ACME}:desk.floor"), "attributes.floor"),
                rule("emails", "cost_center"),
                rule("nickName", "division"),
                rule("nickName", "attributes.nick"),
            ],
        };
        let mut s = UserSnapshot {
            division: Some("was".into()),
            ..Default::default()
        };
        m.apply(&doc(), &mut s);
        assert_eq!(s.department.as_deref(), Some("Berlin"));
        assert_eq!(s.employee_number.as_deref(), Some("7"));
        assert_eq!(
            s.cost_center.as_deref(),
            Some("p@x"),
            "the primary value of a list"
        );
        assert_eq!(s.division, None, "a mapped column without a value is empty");
        assert_eq!(
            s.attributes,
            json!({"skills": ["rust", "sql"], "floor": 3})
                .as_object()
                .cloned()
        );
    }

    #[test]
    fn targets_are_columns_or_attribute_keys() {
        assert_eq!(
            rule("x", "department").target(),
            Some(Target::Column("department"))
        );
        assert_eq!(
            rule("x", "attributes.loc").target(),
            Some(Target::Attribute("loc"))
        );
        assert_eq!(rule("x", "user_name").target(), None);
        assert_eq!(rule("x", "attributes.").target(), None);
        assert_eq!(rule("x", "attributes.a b").target(), None);
    }
}
