//! Roles and entitlements: the tenant's group→role rules, the values a user's `roles` and
//! `entitlements` carry, and the rule that decides a user's roles and its primary one.
//!
//! # The rule
//! A user has every role the IdP set on it (`roles[].value`) and every role of a rule whose
//! group (its displayName, compared case-insensitively) is one of the user's effective groups
//! (direct or through nested groups). Its primary role is the one the IdP marked
//! `primary: true`; otherwise the mapped role of the highest priority (a role several rules give
//! counts with its highest priority; equal priorities go to the role name first in byte order);
//! otherwise none. The worker says this in SQL (`worker/src/roles.rs`); [`derive`] says it in
//! Rust for `scim-worker verify`, an independent implementation that cross-checks it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::user::Doc;

/// One group→role rule: members of `group` (effective members, case-insensitive displayName)
/// get `role`; a higher `priority` wins the primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRule {
    pub group: String,
    pub role: String,
    #[serde(default)]
    pub priority: i32,
}

/// What a tenant's admin defines: the values `/Roles` or `/Entitlements` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Role,
    Entitlement,
}

impl Kind {
    /// As stored in `scim.tenant_access.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Role => "role",
            Kind::Entitlement => "entitlement",
        }
    }

    /// The user attribute that names values of this kind.
    pub fn attribute(self) -> &'static str {
        match self {
            Kind::Role => "roles",
            Kind::Entitlement => "entitlements",
        }
    }
}

/// An entry's `value`. Entra ID's app-role PATCH sends it as a JSON object in a string
/// (`"{\"id\":…,\"value\":\"Admin\",\"displayName\":…}"`): the inner `value` is meant.
fn value_of(entry: &Value) -> Option<String> {
    let v = entry.get("value")?.as_str()?;
    if v.trim_start().starts_with('{')
        && let Ok(Value::Object(inner)) = serde_json::from_str::<Value>(v)
        && let Some(Value::String(inner)) = inner.get("value")
    {
        return Some(inner.clone());
    }
    Some(v.to_owned())
}

/// The `value`s of a multi-valued attribute (`roles`, `entitlements`), each once, in the order
/// sent.
pub fn values(doc: &Doc, attr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in doc.get(attr).and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = value_of(v)
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    out
}

/// The `value` of the entry marked `primary: true`, if any.
pub fn primary(doc: &Doc, attr: &str) -> Option<String> {
    doc.get(attr)?
        .as_array()?
        .iter()
        .find(|v| v.get("primary") == Some(&Value::Bool(true)))
        .and_then(value_of)
}

/// A user's roles with whether each is primary, sorted by role: see the module's rule.
/// `groups` are the displayNames of the user's effective groups.
pub fn derive<'a>(
    idp: &[String],
    idp_primary: Option<&str>,
    groups: impl IntoIterator<Item = &'a str>,
    rules: &[RoleRule],
) -> Vec<(String, bool)> {
    let groups: Vec<String> = groups.into_iter().map(str::to_lowercase).collect();
    let mut mapped: BTreeMap<&str, i32> = BTreeMap::new();
    for r in rules.iter().filter(|r| groups.contains(&r.group.to_lowercase())) {
        let p = mapped.entry(r.role.as_str()).or_insert(r.priority);
        *p = (*p).max(r.priority);
    }
    // Highest priority; among equals the first role name (the map iterates in name order).
    let best = mapped
        .iter()
        .fold(None::<(&str, i32)>, |best, (&role, &p)| match best {
            Some((_, bp)) if bp >= p => best,
            _ => Some((role, p)),
        })
        .map(|(role, _)| role);
    let primary = idp_primary.or(best);
    let mut all: Vec<&str> = mapped
        .keys()
        .copied()
        .chain(idp.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.into_iter()
        .map(|r| (r.to_owned(), Some(r) == primary))
        .collect()
}

/// The tenant's rules as stored (none stored: none).
pub async fn of_tenant(
    db: &impl sea_orm::ConnectionTrait,
    tenant: uuid::Uuid,
) -> Result<Vec<RoleRule>, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let row = crate::entity::scim_tenant_role_mapping::Entity::find_by_id(tenant)
        .one(db)
        .await?;
    Ok(row
        .and_then(|r| serde_json::from_value(r.rules).ok())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(group: &str, role: &str, priority: i32) -> RoleRule {
        RoleRule {
            group: group.into(),
            role: role.into(),
            priority,
        }
    }

    fn rules() -> Vec<RoleRule> {
        vec![
            rule("Engineering", "developer", 10),
            rule("Admins", "admin", 100),
            rule("Everyone", "viewer", 1),
            rule("On-call", "operator", 10),
        ]
    }

    #[test]
    fn a_user_gets_every_role_of_its_groups_and_the_highest_priority_is_primary() {
        let got = derive(&[], None, ["engineering", "ADMINS", "Everyone"], &rules());
        assert_eq!(
            got,
            [
                ("admin".into(), true),
                ("developer".into(), false),
                ("viewer".into(), false)
            ]
        );
    }

    #[test]
    fn equal_priorities_go_to_the_first_role_name() {
        let got = derive(&[], None, ["On-call", "Engineering"], &rules());
        assert_eq!(got, [("developer".into(), true), ("operator".into(), false)]);
    }

    #[test]
    fn the_role_the_idp_marks_primary_wins_over_mapped_roles() {
        let idp = vec!["auditor".to_owned()];
        let got = derive(&idp, Some("auditor"), ["Admins"], &rules());
        assert_eq!(got, [("admin".into(), false), ("auditor".into(), true)]);
    }

    #[test]
    fn idp_roles_without_a_primary_leave_the_mapped_primary() {
        let idp = vec!["auditor".to_owned(), "viewer".to_owned()];
        assert_eq!(
            derive(&idp, None, ["Engineering"], &rules()),
            [
                ("auditor".into(), false),
                ("developer".into(), true),
                ("viewer".into(), false)
            ]
        );
        assert_eq!(
            derive(&idp, None, [], &rules()),
            [("auditor".into(), false), ("viewer".into(), false)]
        );
    }

    #[test]
    fn a_role_several_rules_give_counts_with_its_highest_priority() {
        let rs = vec![rule("A", "x", 1), rule("B", "x", 50), rule("C", "y", 20)];
        assert_eq!(
            derive(&[], None, ["a", "b", "c"], &rs),
            [("x".into(), true), ("y".into(), false)]
        );
    }

    #[test]
    fn values_are_read_once_each_and_the_primary_is_the_one_marked() {
        let doc = json!({"roles": [{"value": "b"}, {"value": "a", "primary": true}, {"value": "b"}, {"display": "x"}]});
        let doc = doc.as_object().unwrap();
        assert_eq!(values(doc, "roles"), ["b", "a"]);
        assert_eq!(primary(doc, "roles").as_deref(), Some("a"));
        assert!(values(doc, "entitlements").is_empty());
    }

    #[test]
    fn an_entra_role_sent_as_json_in_a_string_names_its_inner_value() {
        let doc = json!({"roles": [{"value": "{\"id\":\"06b0\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}, {"value": "{not json"}]});
        assert_eq!(values(doc.as_object().unwrap(), "roles"), ["Admin", "{not json"]);
    }
}
