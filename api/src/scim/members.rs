//! A Group's `members` as set operations. Members are not part of the stored group document (a
//! group may have tens of thousands), so PATCH operations on them are split off here and become
//! adds and removes of (group, user) pairs; everything else in the request goes through
//! `scim::patch` on the document. Covers the forms Okta and Entra ID send:
//! - Okta: `add` path `members` with an array; `remove` path `members[value eq "<id>"]`;
//!   `replace` path `members` with the full list; a no-path `replace` with `{"id", "displayName"}`.
//! - Entra ID: `Add`/`Remove` path `members` with a value array; a no-path `Replace` rename.

use serde_json::{Map, Value};

use super::filter::{AttrPath, CompareOp, Filter, PatchPath, clip};
use super::patch::{Op, PatchOp};
use super::resource::is_urn;
use super::schema::GROUP_SCHEMA;
use super::{Invalid, Kind, invalid};

/// A member as the client sent it: the id it names, and the `type` and `display` it gave. The
/// directory decides what the id is (a user, a child group, or a reference it does not know,
/// kept as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub value: String,
    pub kind: Option<String>,
    pub display: Option<String>,
}

impl Sent {
    #[cfg(test)]
    pub fn id(value: &str) -> Self {
        Self {
            value: value.to_owned(),
            kind: None,
            display: None,
        }
    }
}

/// The ids of `members`, for a removal.
pub fn values(sent: Vec<Sent>) -> Vec<String> {
    sent.into_iter().map(|s| s.value).collect()
}

/// What one operation does to the membership, members as the client sent them.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Add(Vec<Sent>),
    /// By id.
    Remove(Vec<String>),
    /// `remove` with a filter other than `value eq` comparisons: the members it matches.
    RemoveMatching(Filter),
    RemoveAll,
    /// The membership becomes exactly these members.
    Replace(Vec<Sent>),
}

/// A group PATCH split in two: operations on the document, and membership changes in request
/// order. The two never touch the same data, so applying one set before the other is the same
/// as interleaving them.
#[derive(Debug, Default)]
pub struct Plan {
    /// With their index in the request, for error details.
    pub attributes: Vec<(usize, PatchOp)>,
    pub members: Vec<Change>,
}

/// `members`, or `urn:...:core:2.0:Group:members`, in any case.
pub fn is_members_key(key: &str) -> bool {
    let attr = match key.rsplit_once(':') {
        Some((urn, attr)) if is_urn(key) && urn.eq_ignore_ascii_case(GROUP_SCHEMA) => attr,
        Some(_) => return false,
        None => key,
    };
    attr.eq_ignore_ascii_case("members")
}

fn targets_members(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("members")
        && path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// The members a `members` value names: an array of `{"value": id}` objects, one such object,
/// or bare id strings; null is none. `type` and `display` are kept as sent; `$ref` and unknown
/// keys are ignored.
pub fn ids(value: &Value) -> Result<Vec<Sent>, Invalid> {
    let items: &[Value] = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        one => std::slice::from_ref(one),
    };
    items.iter().enumerate().map(|(i, item)| id(i, item)).collect()
}

/// Longest `type` or `display` kept for a member the directory does not know.
const MAX_SENT_TEXT: usize = 256;

fn id(i: usize, item: &Value) -> Result<Sent, Invalid> {
    let obj = match item {
        Value::String(s) if s.contains('\0') => return Err(nul(i, "value")),
        Value::String(s) if !s.trim().is_empty() => {
            return Ok(Sent {
                value: s.trim().to_owned(),
                kind: None,
                display: None,
            });
        }
        Value::Object(obj) => obj,
        _ => {
            return Err(invalid(
                Kind::InvalidValue,
                format!("members[{i}] must be an object such as {{\"value\": \"<user or group id>\"}}"),
            ));
        }
    };
    let text = |key: &str| -> Result<Option<String>, Invalid> {
        match get_ci(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.contains('\0') => Err(nul(i, key)),
            Some(Value::String(s)) if s.chars().count() <= MAX_SENT_TEXT => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(invalid(
                Kind::InvalidValue,
                format!("members[{i}].{key} is longer than {MAX_SENT_TEXT} characters"),
            )),
            Some(_) => Err(invalid(
                Kind::InvalidValue,
                format!("members[{i}].{key} must be a string"),
            )),
        }
    };
    let (kind, display) = (text("type")?, text("display")?);
    match get_ci(obj, "value") {
        Some(Value::String(s)) if s.contains('\0') => Err(nul(i, "value")),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Sent {
            value: s.trim().to_owned(),
            kind,
            display,
        }),
        _ => Err(invalid(
            Kind::InvalidValue,
            format!("members[{i}] needs a 'value' holding the id of a user or group of this tenant"),
        )),
    }
}

/// The ids a removal names. One holding a NUL names no member (adds refuse it): it is dropped,
/// and removing what is not a member succeeds.
fn removed(value: &Value) -> Result<Vec<String>, Invalid> {
    let names_nothing = |item: &Value| {
        let v = match item {
            Value::Object(obj) => get_ci(obj, "value"),
            other => Some(other),
        };
        v.and_then(Value::as_str).is_some_and(|s| s.contains('\0'))
    };
    let kept: Vec<Value> = match value {
        Value::Array(items) => items.iter().filter(|i| !names_nothing(i)).cloned().collect(),
        one if names_nothing(one) => Vec::new(),
        one => vec![one.clone()],
    };
    Ok(values(ids(&Value::Array(kept))?))
}

/// A NUL names nothing and Postgres text cannot hold it.
fn nul(i: usize, key: &str) -> Invalid {
    invalid(
        Kind::InvalidValue,
        format!("members[{i}].{key} contains a NUL character"),
    )
}

fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Splits parsed PATCH operations into document operations and membership changes.
pub fn plan(ops: Vec<PatchOp>) -> Result<Plan, Invalid> {
    let mut plan = Plan::default();
    for (i, op) in ops.into_iter().enumerate() {
        split(i, op, &mut plan).map_err(|e| invalid(e.kind, format!("Operations[{i}]: {}", e.detail)))?;
    }
    Ok(plan)
}

/// `"path": "urn:ietf:params:scim:schemas:core:2.0:Group"`: the resource itself, as no path.
fn is_core_urn(path: &PatchPath) -> bool {
    path.filter.is_none()
        && path.sub.is_none()
        && path.attr.sub.is_none()
        && path
            .attr
            .urn
            .as_deref()
            .is_some_and(|u| format!("{u}:{}", path.attr.attr).eq_ignore_ascii_case(GROUP_SCHEMA))
}

fn split(i: usize, op: PatchOp, plan: &mut Plan) -> Result<(), Invalid> {
    let path = op.path.filter(|p| !is_core_urn(p));
    match path {
        Some(path) if targets_members(&path.attr) => {
            plan.members.push(on_path(op.op, &path, op.value.as_ref())?);
            Ok(())
        }
        Some(path) => {
            plan.attributes.push((
                i,
                PatchOp {
                    path: Some(path),
                    ..op
                },
            ));
            Ok(())
        }
        None => {
            let Some(Value::Object(obj)) = op.value else {
                // Not an object: patch::apply reports it in its own words.
                plan.attributes.push((i, PatchOp { path: None, ..op }));
                return Ok(());
            };
            let mut rest = Map::new();
            take_members(op.op, obj, &mut rest, plan)?;
            if !rest.is_empty() {
                plan.attributes.push((
                    i,
                    PatchOp {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    },
                ));
            }
            Ok(())
        }
    }
}

/// A no-path value object: its `members` key is a membership change (replace: the exact set,
/// add: additions), the other keys are left for the document.
fn take_members(
    op: Op,
    obj: Map<String, Value>,
    rest: &mut Map<String, Value>,
    plan: &mut Plan,
) -> Result<(), Invalid> {
    for (key, value) in obj {
        if is_members_key(&key) {
            let ids = ids(&value)?;
            plan.members.push(match op {
                Op::Replace => Change::Replace(ids),
                _ => Change::Add(ids),
            });
        } else if key.eq_ignore_ascii_case(GROUP_SCHEMA) {
            // Core attributes nested under their URN.
            if let Value::Object(inner) = value {
                let mut nested = Map::new();
                take_members(op, inner, &mut nested, plan)?;
                if !nested.is_empty() {
                    rest.insert(key, Value::Object(nested));
                }
            }
        } else {
            rest.insert(key, value);
        }
    }
    Ok(())
}

fn on_path(op: Op, path: &PatchPath, value: Option<&Value>) -> Result<Change, Invalid> {
    if let Some(sub) = path.attr.sub.as_deref().or(path.sub.as_deref()) {
        return Err(invalid(
            Kind::InvalidPath,
            format!(
                "'members.{}' cannot be changed: add or remove whole members instead",
                clip(sub)
            ),
        ));
    }
    match (op, &path.filter) {
        (Op::Add, None) => Ok(Change::Add(ids(value.unwrap_or(&Value::Null))?)),
        (Op::Replace, None) => Ok(Change::Replace(ids(value.unwrap_or(&Value::Null))?)),
        // Entra ID: `{"op": "Remove", "path": "members", "value": [{"value": "<id>"}]}`.
        (Op::Remove, None) => match value {
            Some(v) if !v.is_null() => Ok(Change::Remove(removed(v)?)),
            _ => Ok(Change::RemoveAll),
        },
        // Okta: `members[value eq "<id>"]`, and `or`s of such comparisons.
        (Op::Remove, Some(filter)) => Ok(match value_eqs(filter) {
            Some(ids) => Change::Remove(ids),
            None => Change::RemoveMatching(filter.clone()),
        }),
        (Op::Add | Op::Replace, Some(_)) => Err(invalid(
            Kind::InvalidPath,
            "members are references to users and groups and have nothing to edit: \
             add them with path 'members', remove them with 'members[value eq \"<id>\"]'",
        )),
    }
}

/// The ids of a filter made only of `value eq "<id>"` comparisons joined by `or`.
fn value_eqs(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Or(a, b) => {
            let mut ids = value_eqs(a)?;
            ids.extend(value_eqs(b)?);
            Some(ids)
        }
        Filter::Compare {
            path:
                AttrPath {
                    urn: None,
                    attr,
                    sub: None,
                },
            op: CompareOp::Eq,
            value: Value::String(id),
        } if attr.eq_ignore_ascii_case("value") => Some(vec![id.clone()]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::parse;
    use crate::scim::schema::PATCH_OP_SCHEMA;
    use serde_json::json;

    fn run(ops: Value) -> Result<Plan, Invalid> {
        plan(parse(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?)
    }

    fn changes(ops: Value) -> Vec<Change> {
        run(ops).unwrap_or_else(|e| panic!("{e}")).members
    }

    fn ids_of(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn sent(v: &[&str]) -> Vec<Sent> {
        v.iter().map(|s| Sent::id(s)).collect()
    }

    #[test]
    fn okta_adds_a_batch_of_members() {
        assert_eq!(
            changes(json!([{"op": "add", "path": "members", "value": [
                {"value": "u-1", "display": "ada@x"}, {"value": "u-2"}]}])),
            [Change::Add(vec![
                Sent {
                    display: Some("ada@x".into()),
                    ..Sent::id("u-1")
                },
                Sent::id("u-2")
            ])]
        );
    }

    #[test]
    fn okta_removes_members_by_value_filters() {
        assert_eq!(
            changes(json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}])),
            [Change::Remove(ids_of(&["u-1"]))]
        );
        assert_eq!(
            changes(json!([{"op": "remove", "path": "members[value eq \"u-1\" or value eq \"u-2\"]"}])),
            [Change::Remove(ids_of(&["u-1", "u-2"]))]
        );
    }

    #[test]
    fn other_remove_filters_remove_the_members_they_match() {
        let c = changes(json!([{"op": "remove", "path": "members[display sw \"ada\"]"}]));
        assert!(matches!(c.as_slice(), [Change::RemoveMatching(_)]), "{c:?}");
    }

    #[test]
    fn okta_replaces_the_whole_list() {
        assert_eq!(
            changes(json!([{"op": "replace", "path": "members", "value": [{"value": "u-3"}]}])),
            [Change::Replace(sent(&["u-3"]))]
        );
        assert_eq!(
            changes(json!([{"op": "replace", "path": "members", "value": []}])),
            [Change::Replace(vec![])]
        );
    }

    #[test]
    fn okta_no_path_rename_with_id_keeps_only_the_name_for_the_document() {
        let p = run(json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Eng"}}])).expect("plans");
        assert!(p.members.is_empty());
        assert_eq!(p.attributes.len(), 1);
        assert_eq!(
            p.attributes[0].1.value,
            Some(json!({"id": "g-1", "displayName": "Eng"})),
            "patch::apply ignores the read-only id"
        );
    }

    #[test]
    fn a_no_path_value_with_members_splits_into_a_membership_change_and_the_rest() {
        let p =
            run(json!([{"op": "replace", "value": {"displayName": "Eng", "members": [{"value": "u-1"}]}}]))
                .expect("plans");
        assert_eq!(p.members, [Change::Replace(sent(&["u-1"]))]);
        assert_eq!(p.attributes[0].1.value, Some(json!({"displayName": "Eng"})));
        let p = run(json!([{"op": "add", "value": {"members": [{"value": "u-2"}]}}])).expect("plans");
        assert_eq!(p.members, [Change::Add(sent(&["u-2"]))]);
        assert!(p.attributes.is_empty(), "nothing left for the document");
    }

    #[test]
    fn entra_adds_and_removes_with_value_arrays_in_any_case() {
        assert_eq!(
            changes(json!([
                {"op": "Add", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]},
                {"op": "Remove", "path": "Members", "value": [{"value": "u-1"}]}
            ])),
            [
                Change::Add(sent(&["u-1", "u-2"])),
                Change::Remove(ids_of(&["u-1"]))
            ]
        );
    }

    #[test]
    fn remove_on_members_without_a_value_removes_everyone() {
        assert_eq!(
            changes(json!([{"op": "remove", "path": "members"}])),
            [Change::RemoveAll]
        );
    }

    #[test]
    fn urn_qualified_members_paths_and_keys_are_members() {
        let path = format!("{GROUP_SCHEMA}:members");
        assert_eq!(
            changes(json!([{"op": "add", "path": path, "value": {"value": "u-1"}}])),
            [Change::Add(sent(&["u-1"]))]
        );
        assert!(is_members_key(&path));
        assert!(is_members_key("MEMBERS"));
        assert!(!is_members_key("urn:example:other:members"));
    }

    #[test]
    fn the_core_urn_as_a_path_is_the_resource_and_its_members_are_split_off() {
        let p = run(
            json!([{"op": "replace", "path": GROUP_SCHEMA, "value": {"displayName": "Eng", "members": []}}]),
        )
        .expect("plans");
        assert_eq!(p.members, [Change::Replace(vec![])]);
        assert_eq!(p.attributes[0].1.value, Some(json!({"displayName": "Eng"})));
        assert!(p.attributes[0].1.path.is_none());
    }

    #[test]
    fn other_paths_go_to_the_document() {
        let p = run(json!([{"op": "replace", "path": "displayName", "value": "New"}])).expect("plans");
        assert!(p.members.is_empty());
        assert_eq!(p.attributes.len(), 1);
    }

    #[test]
    fn members_without_a_value_are_invalid_values() {
        for value in [
            json!([{"display": "x"}]),
            json!([7]),
            json!([{"value": ""}]),
            json!([{"value": "g", "type": 7}]),
        ] {
            let e = run(json!([{"op": "add", "path": "members", "value": value}])).expect_err("invalid");
            assert_eq!(e.kind, Kind::InvalidValue, "{value}");
            assert!(e.detail.starts_with("Operations[0]: members[0]"), "{}", e.detail);
        }
    }

    #[test]
    fn a_group_member_keeps_its_type_and_display() {
        assert_eq!(
            changes(json!([{"op": "add", "path": "members", "value": [
                {"value": "g-1", "type": "Group", "display": "Sales"}]}])),
            [Change::Add(vec![Sent {
                value: "g-1".into(),
                kind: Some("Group".into()),
                display: Some("Sales".into()),
            }])]
        );
    }

    #[test]
    fn editing_a_member_or_adding_through_a_filter_is_an_invalid_path() {
        for (op, path) in [
            ("replace", "members[value eq \"u-1\"].display"),
            ("add", "members[value eq \"u-1\"]"),
            ("replace", "members.value"),
        ] {
            let e = run(json!([{"op": op, "path": path, "value": "x"}])).expect_err("invalid");
            assert_eq!(e.kind, Kind::InvalidPath, "{path}");
        }
    }
}
