//! RFC 7644 §3.5.2 PATCH: parsing a PatchOp request body and applying its operations to a stored
//! (normalised) resource, including the forms Okta and Entra ID actually send. Incoming values go
//! through the normaliser, so types are checked and names stored canonically; required
//! attributes are checked by the caller afterwards.

use serde_json::{Map, Value};

pub use super::filter::PatchPath;
use super::filter::{self, AttrPath, CompareOp, Filter, clip};
use super::resource::{MAX_MULTI_VALUES, normalize_value};
use super::schema::{self, Attr, Mutability, PATCH_OP_SCHEMA, ResourceSchema, Type};
use super::{Invalid, Kind, invalid};

/// Most operations accepted in one request: IdPs send a handful; this bounds the work.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
pub struct PatchOp {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// Parses a PatchOp body. Keys and `op` values are matched case-insensitively: Entra ID sends
/// `"op": "Replace"`.
pub fn parse(body: &Value) -> Result<Vec<PatchOp>, Invalid> {
    let Value::Object(obj) = body else {
        return Err(invalid(
            Kind::InvalidSyntax,
            "the PATCH body must be a JSON object",
        ));
    };
    if let Some(schemas) = get_ci(obj, "schemas") {
        let listed = schemas.as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            })
        });
        if !listed {
            return Err(invalid(
                Kind::InvalidSyntax,
                format!("'schemas' must be [\"{PATCH_OP_SCHEMA}\"]"),
            ));
        }
    }
    let ops = match get_ci(obj, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => return Err(invalid(Kind::InvalidSyntax, "'Operations' is empty")),
        Some(_) => return Err(invalid(Kind::InvalidSyntax, "'Operations' must be an array")),
        None => return Err(invalid(Kind::InvalidSyntax, "the PATCH body has no 'Operations'")),
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(invalid(
            Kind::TooMany,
            format!(
                "{} operations in one PATCH; at most {MAX_OPERATIONS} are accepted",
                ops.len()
            ),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| in_operation(i, e)))
        .collect()
}

fn parse_op(raw: &Value) -> Result<PatchOp, Invalid> {
    let Value::Object(obj) = raw else {
        return Err(invalid(
            Kind::InvalidSyntax,
            "each operation must be a JSON object",
        ));
    };
    let op = match get_ci(obj, "op") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => Op::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => Op::Remove,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(other) => {
            return Err(invalid(
                Kind::InvalidSyntax,
                format!(
                    "unknown op {}; expected add, remove or replace",
                    clip(&other.to_string())
                ),
            ));
        }
        None => {
            return Err(invalid(
                Kind::InvalidSyntax,
                "missing 'op' (add, remove or replace)",
            ));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        // An empty path means "no path" to the clients that send it.
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(filter::parse_patch_path(s)?),
        Some(_) => return Err(invalid(Kind::InvalidPath, "'path' must be a string")),
    };
    let value = get_ci(obj, "value").cloned();
    if op == Op::Remove && path.is_none() {
        return Err(invalid(Kind::NoTarget, "a remove operation needs a 'path'"));
    }
    if op != Op::Remove && value.is_none() {
        return Err(invalid(
            Kind::InvalidValue,
            format!("an {} operation needs a 'value'", op.as_str()),
        ));
    }
    Ok(PatchOp { op, path, value })
}

/// Applies `ops` in order, all or nothing: `resource` is only written when every one succeeded.
pub fn apply(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    ops: &[PatchOp],
) -> Result<(), Invalid> {
    apply_all(schema, resource, ops.iter().enumerate())
}

/// Like [`apply`], for operations picked out of a larger request (a group PATCH without its
/// member operations): errors name each operation by its index in the request.
pub fn apply_numbered(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    ops: &[(usize, PatchOp)],
) -> Result<(), Invalid> {
    apply_all(schema, resource, ops.iter().map(|(i, op)| (*i, op)))
}

fn apply_all<'o>(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    ops: impl Iterator<Item = (usize, &'o PatchOp)>,
) -> Result<(), Invalid> {
    let mut work = resource.clone();
    for (i, op) in ops {
        let required: Vec<&Attr> = schema
            .core
            .iter()
            .filter(|a| (a.required || !a.removable) && work.contains_key(a.name))
            .collect();
        apply_op(schema, &mut work, op)
            .and_then(|()| keep_required(&required, &work))
            .map_err(|e| in_operation(i, e))?;
    }
    *resource = work;
    Ok(())
}

/// RFC 7644 §3.5.2.2/§3.5.2.3: a required attribute that an operation removes or leaves
/// unassigned (remove, null, "") is a `mutability` error, not a user without a userName. So is
/// an attribute the schema marks not `removable` (a User's `active`: unassigned, it would mean
/// active again and silently reactivate a deactivated user).
fn keep_required(required: &[&Attr], doc: &Map<String, Value>) -> Result<(), Invalid> {
    match required.iter().find(|a| !doc.contains_key(a.name)) {
        Some(attr) if attr.required => Err(invalid(
            Kind::Mutability,
            format!("'{}' is required: it can be replaced, not removed", attr.name),
        )),
        Some(attr) => Err(invalid(
            Kind::Mutability,
            format!(
                "'{}' can be replaced, not removed: replace it with false to deactivate the user \
                 or true to activate them",
                attr.name
            ),
        )),
        None => Ok(()),
    }
}

fn in_operation(i: usize, e: Invalid) -> Invalid {
    invalid(e.kind, format!("Operations[{i}]: {}", e.detail))
}

fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// One operation with its value; `Remove` may carry values to remove (Entra ID's members).
#[derive(Clone, Copy)]
enum Change<'v> {
    Add(&'v Value),
    Replace(&'v Value),
    Remove(Option<&'v Value>),
}

impl<'v> Change<'v> {
    fn with(self, value: &'v Value) -> Change<'v> {
        match self {
            Change::Add(_) => Change::Add(value),
            Change::Replace(_) => Change::Replace(value),
            Change::Remove(_) => Change::Remove(Some(value)),
        }
    }
}

/// What a path designates.
enum Target<'p> {
    /// The resource itself: no path, or the core schema URN.
    Resource,
    /// An extension object as a whole (`"path": "urn:...:enterprise:2.0:User"`).
    Extension(&'static str, &'static [Attr]),
    Attr(Loc<'p>),
}

/// An attribute, optionally narrowed to the elements a filter selects and/or a sub-attribute.
struct Loc<'p> {
    /// Canonical URN of the extension holding the attribute; `None` for core attributes.
    ext: Option<&'static str>,
    attr: &'static Attr,
    filter: Option<&'p Filter>,
    /// `name.givenName`, `emails.value` or `emails[type eq "work"].value`.
    sub: Option<&'static Attr>,
}

impl Loc<'_> {
    fn name(&self) -> String {
        match self.sub {
            Some(sub) => format!("{}.{}", self.attr.name, sub.name),
            None => self.attr.name.to_owned(),
        }
    }

    /// Read-only targets are client errors; write-only ones (password) are accepted and
    /// dropped, as the normaliser does, since passwords are never stored.
    fn writable(&self) -> Result<bool, Invalid> {
        for attr in std::iter::once(self.attr).chain(self.sub) {
            match attr.mutability {
                Mutability::ReadOnly => {
                    return Err(invalid(
                        Kind::Mutability,
                        format!("'{}' is read-only", self.name()),
                    ));
                }
                Mutability::WriteOnly => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }
}

fn apply_op(schema: &ResourceSchema, doc: &mut Map<String, Value>, op: &PatchOp) -> Result<(), Invalid> {
    let change = match (op.op, &op.value) {
        (Op::Remove, value) => Change::Remove(value.as_ref()),
        (Op::Add, Some(value)) => Change::Add(value),
        (Op::Replace, Some(value)) => Change::Replace(value),
        (_, None) => {
            return Err(invalid(
                Kind::InvalidValue,
                format!("an {} operation needs a 'value'", op.op.as_str()),
            ));
        }
    };
    let target = match &op.path {
        None => Target::Resource,
        Some(path) => resolve(schema, &path.attr, path.filter.as_ref(), path.sub.as_deref())?,
    };
    match target {
        Target::Resource => apply_to_resource(schema, doc, change),
        Target::Extension(urn, attrs) => apply_to_extension(doc, urn, attrs, change),
        Target::Attr(loc) if loc.writable()? => apply_at(doc, &loc, change),
        Target::Attr(_) => Ok(()),
    }
}

fn resolve<'p>(
    schema: &ResourceSchema,
    path: &AttrPath,
    filter: Option<&'p Filter>,
    after: Option<&str>,
) -> Result<Target<'p>, Invalid> {
    let bare = filter.is_none() && after.is_none() && path.sub.is_none();
    let (ext, attr) = match path.urn.as_deref() {
        None => (None, schema.core_attr(&path.attr)),
        Some(urn) if schema.is_core_urn(urn) => (None, schema.core_attr(&path.attr)),
        Some(urn) => match schema.extension(urn) {
            Some((urn, attrs)) => (Some(urn), schema::find(attrs, &path.attr)),
            None => {
                // `urn:...:enterprise:2.0:User` parses as URN `...:2.0` and attribute `User`.
                let whole = format!("{urn}:{}", path.attr);
                return match schema.extension(&whole) {
                    _ if bare && schema.is_core_urn(&whole) => Ok(Target::Resource),
                    Some((urn, attrs)) if bare => Ok(Target::Extension(urn, attrs)),
                    _ => Err(invalid(
                        Kind::InvalidPath,
                        format!("unknown schema extension in '{}'", clip(&whole)),
                    )),
                };
            }
        },
    };
    let attr = attr.ok_or_else(|| {
        invalid(
            Kind::InvalidPath,
            format!("unknown attribute '{}'", clip(&path.attr)),
        )
    })?;
    locate(ext, attr, filter, path.sub.as_deref().or(after)).map(Target::Attr)
}

fn locate<'p>(
    ext: Option<&'static str>,
    attr: &'static Attr,
    filter: Option<&'p Filter>,
    sub: Option<&str>,
) -> Result<Loc<'p>, Invalid> {
    if filter.is_some() && !attr.multi {
        return Err(invalid(
            Kind::InvalidPath,
            format!(
                "'{}' is single-valued; '[...]' only selects values of multi-valued attributes",
                attr.name
            ),
        ));
    }
    let sub = match sub {
        None => None,
        Some(name) if attr.ty == Type::Complex => Some(attr.sub_attr(name).ok_or_else(|| {
            invalid(
                Kind::InvalidPath,
                format!("unknown attribute '{}.{}'", attr.name, clip(name)),
            )
        })?),
        Some(_) => {
            return Err(invalid(
                Kind::InvalidPath,
                format!("'{}' has no sub-attributes", attr.name),
            ));
        }
    };
    Ok(Loc {
        ext,
        attr,
        filter,
        sub,
    })
}

/// No path: the value is an object of attributes, each applied as if it were the path. Keys may
/// be core names, `name.givenName` (Entra ID), URN-qualified attributes or extension objects.
/// Unknown and read-only keys are ignored, as in POST/PUT: Okta's group rename sends `id` along.
fn apply_to_resource(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    change: Change,
) -> Result<(), Invalid> {
    let value = match change {
        Change::Add(v) | Change::Replace(v) => v,
        Change::Remove(_) => return Err(invalid(Kind::NoTarget, "a remove operation needs a 'path'")),
    };
    let Value::Object(attrs) = value else {
        return Err(invalid(
            Kind::InvalidValue,
            "without a 'path', 'value' must be an object of attributes",
        ));
    };
    for (key, value) in attrs {
        let Ok(path) = filter::parse_attr_path(key) else {
            continue;
        };
        match resolve(schema, &path, None, None) {
            Ok(Target::Resource) if value.is_object() => apply_to_resource(schema, doc, change.with(value))?,
            Ok(Target::Extension(urn, ext_attrs)) => {
                apply_to_extension(doc, urn, ext_attrs, change.with(value))?
            }
            Ok(Target::Attr(loc)) if loc.writable().unwrap_or(false) => {
                apply_at(doc, &loc, change.with(value))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// An extension object as a whole: its sub-attributes are merged, others are left alone.
fn apply_to_extension(
    doc: &mut Map<String, Value>,
    urn: &'static str,
    attrs: &'static [Attr],
    change: Change,
) -> Result<(), Invalid> {
    let value = match change {
        Change::Add(v) | Change::Replace(v) => v,
        Change::Remove(_) => {
            doc.remove(urn);
            return Ok(());
        }
    };
    let fields = match value {
        Value::Object(fields) => fields,
        Value::Null => {
            doc.remove(urn);
            return Ok(());
        }
        _ => return Err(invalid(Kind::InvalidValue, format!("'{urn}' must be an object"))),
    };
    for (key, value) in fields {
        let Ok(path) = filter::parse_attr_path(key) else {
            continue;
        };
        let Some(attr) = schema::find(attrs, &path.attr).filter(|_| path.urn.is_none()) else {
            continue;
        };
        let Ok(loc) = locate(Some(urn), attr, None, path.sub.as_deref()) else {
            continue;
        };
        if loc.writable().unwrap_or(false) {
            apply_at(doc, &loc, change.with(value))?;
        }
    }
    Ok(())
}

/// Applies a change at `loc`, inside its extension object when it has one.
fn apply_at(doc: &mut Map<String, Value>, loc: &Loc, change: Change) -> Result<(), Invalid> {
    let Some(urn) = loc.ext else {
        return apply_to_attr(doc, loc, change);
    };
    let mut ext = doc
        .get(urn)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    apply_to_attr(&mut ext, loc, change)?;
    // An extension left without attributes is not kept as `{}`.
    if ext.is_empty() {
        doc.remove(urn);
    } else {
        doc.insert(urn.to_owned(), Value::Object(ext));
    }
    Ok(())
}

fn apply_to_attr(container: &mut Map<String, Value>, loc: &Loc, change: Change) -> Result<(), Invalid> {
    match (loc.attr.multi, loc.sub) {
        (false, None) => set_single(container, loc.attr, change),
        (false, Some(sub)) => set_sub(container, loc.attr, sub, change),
        (true, None) if loc.filter.is_none() => set_multi(container, loc.attr, change),
        (true, _) => set_selected(container, loc, change),
    }
}

/// The value of `name` as an owned object (empty when absent).
fn object_at(container: &Map<String, Value>, name: &str) -> Map<String, Value> {
    container
        .get(name)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Stores `value` under `name`, or removes `name` when there is no value left.
fn store(container: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    match value {
        Some(Value::Object(o)) if o.is_empty() => container.remove(name),
        Some(Value::Array(a)) if a.is_empty() => container.remove(name),
        Some(v) => container.insert(name.to_owned(), v),
        None => container.remove(name),
    };
}

/// A single-valued attribute. Add on an existing value replaces it (Entra ID adds what exists).
fn set_single(
    container: &mut Map<String, Value>,
    attr: &'static Attr,
    change: Change,
) -> Result<(), Invalid> {
    let value = match change {
        Change::Add(v) | Change::Replace(v) => v,
        Change::Remove(_) => {
            container.remove(attr.name);
            return Ok(());
        }
    };
    let new = match value {
        // RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes of a complex value that are not given are
        // left unchanged, for add and replace alike.
        Value::Object(subs) if attr.ty == Type::Complex => {
            let mut obj = object_at(container, attr.name);
            merge_subs(attr, &mut obj, subs, attr.name)?;
            Some(Value::Object(obj))
        }
        // A bare string manager becomes `{"value": ...}` in the normaliser.
        _ => normalize_value(attr, value, attr.name)?,
    };
    store(container, attr.name, new);
    Ok(())
}

/// A sub-attribute of a single-valued complex attribute (`name.givenName`, `manager.value`).
fn set_sub(
    container: &mut Map<String, Value>,
    attr: &'static Attr,
    sub: &'static Attr,
    change: Change,
) -> Result<(), Invalid> {
    let mut obj = object_at(container, attr.name);
    match change {
        Change::Add(v) | Change::Replace(v) => {
            let new = normalize_value(sub, v, &format!("{}.{}", attr.name, sub.name))?;
            store(&mut obj, sub.name, new);
        }
        Change::Remove(_) => {
            obj.remove(sub.name);
        }
    }
    store(container, attr.name, Some(Value::Object(obj)));
    Ok(())
}

/// Sets the given sub-attributes of `obj`; a null or empty one removes it. Unknown and
/// read-only sub-attributes are ignored, as the normaliser does.
fn merge_subs(
    attr: &Attr,
    obj: &mut Map<String, Value>,
    subs: &Map<String, Value>,
    path: &str,
) -> Result<(), Invalid> {
    for (key, value) in subs {
        let Some(sub) = attr.sub_attr(key) else { continue };
        if matches!(sub.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
            continue;
        }
        let new = normalize_value(sub, value, &format!("{path}.{}", sub.name))?;
        store(obj, sub.name, new);
    }
    Ok(())
}

fn list_at(container: &Map<String, Value>, name: &str) -> Vec<Value> {
    container
        .get(name)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The normalised elements of a multi-valued attribute's value (one element or an array).
fn normalize_list(attr: &'static Attr, value: &Value) -> Result<Vec<Value>, Invalid> {
    match normalize_value(attr, value, attr.name)? {
        Some(Value::Array(items)) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

/// Whether `have` already holds everything `item` says.
fn holds(have: &Value, item: &Value) -> bool {
    match (have, item) {
        (Value::Object(have), Value::Object(item)) => item.iter().all(|(k, v)| have.get(k) == Some(v)),
        _ => have == item,
    }
}

fn is_blank(value: &Value) -> bool {
    value.is_null() || value.as_str().is_some_and(str::is_empty)
}

/// A whole multi-valued attribute: add appends, replace replaces the list, remove removes it or,
/// given values, just those (Entra ID: `{"op":"Remove","path":"members","value":[{"value":"id"}]}`).
fn set_multi(container: &mut Map<String, Value>, attr: &'static Attr, change: Change) -> Result<(), Invalid> {
    match change {
        Change::Replace(v) => {
            let list = normalize_list(attr, v)?;
            let written: Vec<usize> = (0..list.len()).collect();
            finish_list(container, attr, list, &written)
        }
        Change::Add(v) if is_blank(v) => {
            container.remove(attr.name);
            Ok(())
        }
        Change::Add(v) => {
            let mut list = list_at(container, attr.name);
            let mut written = Vec::new();
            for item in normalize_list(attr, v)? {
                // Re-adding a value that is already there (an IdP retrying) changes nothing
                // (RFC 7644 §3.5.2.1), also when the stored value has more sub-attributes.
                if !list.iter().any(|have| holds(have, &item)) {
                    written.push(list.len());
                    list.push(item);
                }
            }
            finish_list(container, attr, list, &written)
        }
        Change::Remove(Some(values)) if !values.is_null() => {
            let given: &[Value] = match values {
                Value::Array(items) => items,
                one => std::slice::from_ref(one),
            };
            let mut list = list_at(container, attr.name);
            list.retain(|element| !given.iter().any(|g| same_value(attr, element, g)));
            finish_list(container, attr, list, &[])
        }
        Change::Remove(_) => {
            container.remove(attr.name);
            Ok(())
        }
    }
}

/// Whether `element` is what a remove-by-value names: the same `value` (`{"value": "id"}` or a
/// bare `"id"`), compared per the sub-attribute's caseExact; or, without a `value`, equal.
fn same_value(attr: &Attr, element: &Value, given: &Value) -> bool {
    let wanted = match given {
        Value::String(s) => Some(s.as_str()),
        Value::Object(obj) => get_ci(obj, "value").and_then(Value::as_str),
        _ => None,
    };
    match (wanted, element.get("value").and_then(Value::as_str)) {
        (Some(wanted), Some(have)) if attr.sub_attr("value").is_some_and(|v| v.case_exact) => wanted == have,
        (Some(wanted), Some(have)) => wanted.to_lowercase() == have.to_lowercase(),
        (Some(_), None) => false,
        (None, _) => element == given,
    }
}

/// Elements of a multi-valued attribute selected by a filter (all elements when there is only a
/// sub-attribute, as in `emails.type`), replaced, merged into or removed.
fn set_selected(container: &mut Map<String, Value>, loc: &Loc, change: Change) -> Result<(), Invalid> {
    let attr = loc.attr;
    let mut list = list_at(container, attr.name);
    let selected: Vec<usize> = (0..list.len())
        .filter(|&i| {
            loc.filter.is_none_or(|f| {
                list.get(i)
                    .is_some_and(|e| filter::matches_element(f, e, Some(attr)))
            })
        })
        .collect();
    let value = match change {
        Change::Add(v) | Change::Replace(v) => v,
        Change::Remove(_) => {
            // Removing what is already gone succeeds: IdPs retry removals (Okta's
            // `members[value eq "id"]`), and an error would make them retry forever.
            for &i in &selected {
                let Some(element) = list.get_mut(i) else { continue };
                match (loc.sub, element.as_object_mut()) {
                    (Some(sub), Some(obj)) => {
                        obj.remove(sub.name);
                    }
                    // Emptied elements are dropped by `finish_list`.
                    _ => *element = Value::Object(Map::new()),
                }
            }
            return finish_list(container, attr, list, &[]);
        }
    };
    if selected.is_empty() {
        if is_blank(value) {
            return Ok(());
        }
        let element = new_element(loc, value)?;
        list.push(element);
        let written = [list.len() - 1];
        return finish_list(container, attr, list, &written);
    }
    let path = loc.name();
    // Whole-element replace: the value is one element; null/"" removes the selected elements.
    let replacement = match (loc.sub, change) {
        (None, Change::Replace(v)) => Some(single_element(attr, v)?),
        _ => None,
    };
    for &i in &selected {
        let Some(element) = list.get_mut(i) else { continue };
        let mut obj = element.as_object().cloned().unwrap_or_default();
        match (loc.sub, &replacement) {
            (Some(sub), _) => store(&mut obj, sub.name, normalize_value(sub, value, &path)?),
            (None, Some(replacement)) => obj = replacement.clone().unwrap_or_default(),
            (None, None) => match value {
                Value::Object(subs) => merge_subs(attr, &mut obj, subs, &path)?,
                _ => {
                    return Err(invalid(
                        Kind::InvalidValue,
                        format!("'{path}' values must be objects"),
                    ));
                }
            },
        }
        *element = Value::Object(obj);
    }
    finish_list(container, attr, list, &selected)
}

/// The one element a whole-element replace writes (`None`: remove the selected elements).
fn single_element(attr: &'static Attr, value: &Value) -> Result<Option<Map<String, Value>>, Invalid> {
    match <[Value; 1]>::try_from(normalize_list(attr, value)?) {
        Ok([Value::Object(obj)]) => Ok(Some(obj)),
        Ok(_) => Err(invalid(
            Kind::InvalidValue,
            format!("'{}' values must be objects", attr.name),
        )),
        Err(items) if items.is_empty() => Ok(None),
        Err(_) => Err(invalid(
            Kind::InvalidValue,
            format!("replace one '{}' value at a time", attr.name),
        )),
    }
}

/// When a filter selects nothing, add and replace create the element the filter describes, if
/// it is a conjunction of `eq` comparisons: Entra ID sends `emails[type eq "work"].value` as
/// both add and replace for a user who has no work email yet, and means "set the work email".
/// Any other filter has no element to create: noTarget (RFC 7644 §3.5.2.3).
fn new_element(loc: &Loc, value: &Value) -> Result<Value, Invalid> {
    let attr = loc.attr;
    let mut element = Map::new();
    let no_target = || {
        let described = loc
            .filter
            .map_or_else(String::new, |f| format!("[{}]", clip(&f.to_string())));
        invalid(
            Kind::NoTarget,
            format!("no value of '{}' matches '{}{described}'", attr.name, attr.name),
        )
    };
    if let Some(filter) = loc.filter {
        let created = eq_fields(filter, attr, &mut element)
            && filter::matches_element(filter, &Value::Object(element.clone()), Some(attr));
        if !created {
            return Err(no_target());
        }
    }
    let path = loc.name();
    match (loc.sub, value) {
        (Some(sub), _) => store(&mut element, sub.name, normalize_value(sub, value, &path)?),
        (None, Value::Object(subs)) => merge_subs(attr, &mut element, subs, &path)?,
        // A one-element array, or a bare string the normaliser wraps as `{"value": ...}`.
        (None, _) => {
            if let Some(one) = single_element(attr, value)? {
                element.extend(one);
            }
        }
    }
    // The value may contradict the filter (`emails[type eq "home"]` given `"type": "other"`):
    // then it is not the element the filter describes, and a retry would add it again.
    let element = Value::Object(element);
    match loc.filter {
        Some(filter) if !filter::matches_element(filter, &element, Some(attr)) => Err(no_target()),
        _ => Ok(element),
    }
}

/// Collects the `sub eq value` comparisons of a conjunction into `out`; false when the filter
/// is anything else.
fn eq_fields(filter: &Filter, attr: &Attr, out: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::And(l, r) => eq_fields(l, attr, out) && eq_fields(r, attr, out),
        Filter::Compare {
            path:
                AttrPath {
                    urn: None,
                    attr: name,
                    sub: None,
                },
            op: CompareOp::Eq,
            value,
        } => {
            let Some(sub) = attr.sub_attr(name) else {
                return false;
            };
            match normalize_value(sub, value, name) {
                Ok(Some(v)) => {
                    out.insert(sub.name.to_owned(), v);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Stores a multi-valued attribute after an operation: one primary at most (RFC 7643 §2.4; the
/// elements just written win), no empty elements, no more than the normaliser accepts.
fn finish_list(
    container: &mut Map<String, Value>,
    attr: &'static Attr,
    mut list: Vec<Value>,
    written: &[usize],
) -> Result<(), Invalid> {
    let is_primary = |e: &Value| e.get("primary") == Some(&Value::Bool(true));
    let written_primaries = written
        .iter()
        .filter(|&&i| list.get(i).is_some_and(is_primary))
        .count();
    if written_primaries > 1 {
        return Err(invalid(
            Kind::InvalidValue,
            format!("more than one '{}' value would be primary", attr.name),
        ));
    }
    if written_primaries == 1 {
        for (i, element) in list.iter_mut().enumerate() {
            if !written.contains(&i)
                && is_primary(element)
                && let Some(obj) = element.as_object_mut()
            {
                obj.remove("primary");
            }
        }
    }
    list.retain(|e| !matches!(e, Value::Object(o) if o.is_empty()));
    if list.len() > MAX_MULTI_VALUES {
        return Err(invalid(
            Kind::InvalidValue,
            format!(
                "'{}' would have {} values; at most {MAX_MULTI_VALUES} are accepted",
                attr.name,
                list.len()
            ),
        ));
    }
    store(container, attr.name, Some(Value::Array(list)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER_SCHEMA as ENT, USER_RESOURCE};
    use super::*;
    use serde_json::json;

    const fn attr(name: &'static str, case_exact: bool) -> Attr {
        Attr {
            name,
            ty: Type::String,
            multi: false,
            case_exact,
            required: false,
            removable: true,
            mutability: Mutability::ReadWrite,
            returned: super::super::schema::Returned::Default,
            sub: &[],
        }
    }

    /// A minimal Group schema (RFC 7643 §4.2), for the members forms IdPs send.
    const GROUP_RESOURCE: ResourceSchema = ResourceSchema {
        core_urn: "urn:ietf:params:scim:schemas:core:2.0:Group",
        core: &[
            attr("displayName", false),
            Attr {
                ty: Type::Complex,
                multi: true,
                sub: &[attr("value", true), attr("display", false), attr("type", false)],
                ..attr("members", false)
            },
        ],
        extensions: &[],
    };

    fn run_on(schema: &ResourceSchema, doc: Value, ops: Value) -> Result<Value, Invalid> {
        let Value::Object(mut doc) = doc else {
            panic!("test documents are objects")
        };
        let ops = parse(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?;
        apply(schema, &mut doc, &ops)?;
        Ok(Value::Object(doc))
    }

    fn run(doc: Value, ops: Value) -> Result<Value, Invalid> {
        run_on(&USER_RESOURCE, doc, ops)
    }

    fn ok(doc: Value, ops: Value) -> Value {
        run(doc, ops).unwrap_or_else(|e| panic!("{e}"))
    }

    fn kind(doc: Value, ops: Value) -> Kind {
        run(doc, ops).expect_err("the patch should fail").kind
    }

    fn user() -> Value {
        json!({
            "userName": "ada@x.com",
            "active": true,
            "displayName": "Ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"value": "ada@x.com", "type": "work", "primary": true},
                {"value": "ada@home.org", "type": "home"}
            ],
            ENT: {"department": "R&D", "manager": {"value": "m-1"}}
        })
    }

    // Parsing

    #[test]
    fn parse_reads_entra_capitalised_ops_and_any_case_of_operations() {
        let ops = parse(&json!({"schemas": [PATCH_OP_SCHEMA], "operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "title", "value": "Eng"},
            {"op": "REMOVE", "path": "nickName"}
        ]}))
        .expect("parses");
        let kinds: Vec<Op> = ops.iter().map(|o| o.op).collect();
        assert_eq!(kinds, [Op::Replace, Op::Add, Op::Remove]);
        assert_eq!(ops[0].path.as_ref().map(|p| p.attr.attr.as_str()), Some("active"));
        assert_eq!(ops[2].value, None);
    }

    #[test]
    fn parse_accepts_a_body_without_schemas_and_an_empty_path_as_no_path() {
        let ops = parse(&json!({"Operations": [{"op": "replace", "path": "", "value": {"active": false}}]}))
            .expect("parses");
        assert!(ops[0].path.is_none());
    }

    #[test]
    fn missing_empty_or_non_array_operations_are_invalid_syntax() {
        for body in [
            json!({"schemas": [PATCH_OP_SCHEMA]}),
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}),
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": {"op": "add"}}),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [
                {"op": "add", "path": "title", "value": "x"}]}),
            json!([{"op": "add"}]),
            json!({"Operations": ["add"]}),
        ] {
            assert_eq!(
                parse(&body).map(|_| ()).map_err(|e| e.kind),
                Err(Kind::InvalidSyntax),
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_or_missing_ops_are_invalid_syntax() {
        let e = parse(&json!({"Operations": [{"op": "add", "path": "title", "value": "x"}, {"op": "move"}]}))
            .expect_err("move is no op");
        assert_eq!(e.kind, Kind::InvalidSyntax);
        assert!(
            e.detail.starts_with("Operations[1]: unknown op \"move\""),
            "{}",
            e.detail
        );
        assert_eq!(
            parse(&json!({"Operations": [{"path": "title"}]}))
                .map(|_| ())
                .map_err(|e| e.kind),
            Err(Kind::InvalidSyntax)
        );
    }

    #[test]
    fn remove_without_a_path_is_no_target() {
        let e = parse(&json!({"Operations": [{"op": "remove"}]})).expect_err("no path");
        assert_eq!(e.kind, Kind::NoTarget);
    }

    #[test]
    fn add_or_replace_without_a_value_is_an_invalid_value() {
        for op in ["add", "replace"] {
            let e = parse(&json!({"Operations": [{"op": op, "path": "title"}]})).expect_err("no value");
            assert_eq!(e.kind, Kind::InvalidValue);
        }
        // Also when a PatchOp is built by hand.
        let ops = [PatchOp {
            op: Op::Add,
            path: None,
            value: None,
        }];
        let mut doc = Map::new();
        assert_eq!(
            apply(&USER_RESOURCE, &mut doc, &ops).map_err(|e| e.kind),
            Err(Kind::InvalidValue)
        );
    }

    #[test]
    fn unparseable_or_non_string_paths_are_invalid_paths() {
        for path in [json!("emails[type eq"), json!("a b"), json!(5)] {
            let e = parse(&json!({"Operations": [{"op": "remove", "path": path}]})).expect_err("bad path");
            assert_eq!(e.kind, Kind::InvalidPath, "{path}");
        }
    }

    #[test]
    fn more_than_a_thousand_operations_are_too_many() {
        let op = json!({"op": "replace", "path": "title", "value": "x"});
        let body = json!({"Operations": vec![op; MAX_OPERATIONS + 1]});
        assert_eq!(parse(&body).map(|_| ()).map_err(|e| e.kind), Err(Kind::TooMany));
    }

    // Okta

    #[test]
    fn okta_no_path_replace_deactivates_user() {
        let out = ok(user(), json!([{"op": "replace", "value": {"active": false}}]));
        let mut expected = user();
        expected["active"] = json!(false);
        assert_eq!(out, expected);
    }

    #[test]
    fn okta_rename_with_id_in_the_value_ignores_the_read_only_id() {
        let out = ok(
            user(),
            json!([{"op": "replace", "value": {"id": "u-1", "displayName": "Countess", "meta": {}, "schemas": []}}]),
        );
        assert_eq!(out["displayName"], json!("Countess"));
        assert!(out.get("id").is_none() && out.get("meta").is_none());
        let group = run_on(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng"}),
            json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Engineering"}}]),
        );
        assert_eq!(group, Ok(json!({"displayName": "Engineering"})));
    }

    #[test]
    fn okta_adds_members_skipping_ones_already_there() {
        let out = run_on(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng", "members": [{"value": "u-1"}]}),
            json!([{"op": "add", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2", "display": "Bob"}]}]),
        );
        assert_eq!(
            out,
            Ok(
                json!({"displayName": "Eng", "members": [{"value": "u-1"}, {"value": "u-2", "display": "Bob"}]})
            )
        );
    }

    #[test]
    fn okta_removes_a_member_by_value_filter_and_removing_it_again_succeeds() {
        let doc = json!({"displayName": "Eng", "members": [{"value": "u-1"}, {"value": "u-2"}]});
        let ops = json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}]);
        let once = run_on(&GROUP_RESOURCE, doc, ops.clone()).expect("removes");
        assert_eq!(once, json!({"displayName": "Eng", "members": [{"value": "u-2"}]}));
        assert_eq!(run_on(&GROUP_RESOURCE, once.clone(), ops), Ok(once));
    }

    #[test]
    fn okta_password_changes_are_accepted_but_never_stored() {
        assert_eq!(
            ok(
                user(),
                json!([{"op": "replace", "value": {"password": "hunter2"}}])
            ),
            user()
        );
        assert_eq!(
            ok(
                user(),
                json!([{"op": "replace", "path": "password", "value": "hunter2"}])
            ),
            user()
        );
    }

    // Entra ID

    #[test]
    fn entra_replace_active_with_a_string_boolean_deactivates() {
        let out = ok(
            user(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn entra_no_path_add_understands_dotted_and_urn_qualified_keys() {
        let out = ok(
            user(),
            json!([{"op": "Add", "value": {
                "name.givenName": "Augusta",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Maths",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName": "augusta@x.com",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m-2",
                "Title": "Countess"
            }}]),
        );
        assert_eq!(
            out["name"],
            json!({"givenName": "Augusta", "familyName": "Lovelace"})
        );
        assert_eq!(out["userName"], json!("augusta@x.com"));
        assert_eq!(out["title"], json!("Countess"));
        assert_eq!(
            out[ENT],
            json!({"department": "Maths", "manager": {"value": "m-2"}})
        );
    }

    #[test]
    fn entra_replace_of_the_work_email_value_updates_the_matching_element() {
        let out = ok(
            user(),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@y.com"}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "ada@y.com", "type": "work", "primary": true}, {"value": "ada@home.org", "type": "home"}])
        );
    }

    #[test]
    fn entra_add_of_a_work_email_creates_it_when_the_user_has_none() {
        for op in ["Add", "Replace"] {
            let out = ok(
                json!({"userName": "a"}),
                json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "a@x.com"}]),
            );
            assert_eq!(
                out["emails"],
                json!([{"type": "work", "value": "a@x.com"}]),
                "{op}"
            );
        }
        let out = ok(
            json!({"userName": "a", "emails": [{"value": "a@home.org", "type": "home"}]}),
            json!([{"op": "Add", "path": "emails[type eq \"work\" and primary eq true].value", "value": "a@x.com"}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "a@home.org", "type": "home"}, {"type": "work", "primary": true, "value": "a@x.com"}])
        );
    }

    #[test]
    fn entra_replace_of_address_parts_by_type_edits_or_creates_the_address() {
        let out = ok(
            json!({"userName": "a"}),
            json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}
            ]),
        );
        assert_eq!(
            out["addresses"],
            json!([{"type": "work", "streetAddress": "1 Main St", "postalCode": "12345"}])
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555"}])
        );
    }

    #[test]
    fn entra_manager_as_a_bare_string_becomes_a_manager_object() {
        let path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
        let out = ok(user(), json!([{"op": "Replace", "path": path, "value": "m-2"}]));
        assert_eq!(
            out[ENT],
            json!({"department": "R&D", "manager": {"value": "m-2"}})
        );
        let out = ok(
            json!({"userName": "a"}),
            json!([{"op": "Add", "path": path, "value": "m-3"}]),
        );
        assert_eq!(out[ENT], json!({"manager": {"value": "m-3"}}));
    }

    #[test]
    fn removing_the_manager_clears_it_and_keeps_the_other_extension_attributes() {
        let path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
        let out = ok(user(), json!([{"op": "remove", "path": path}]));
        assert_eq!(out[ENT], json!({"department": "R&D"}));
        // Entra ID may send the old manager along; the manager is removed all the same.
        let out = ok(
            user(),
            json!([{"op": "Remove", "path": path, "value": [{"value": "m-1"}]}]),
        );
        assert_eq!(out[ENT], json!({"department": "R&D"}));
        // An extension left empty is dropped rather than stored as {}.
        let out = ok(
            json!({"userName": "a", ENT: {"manager": {"value": "m"}}}),
            json!([{"op": "remove", "path": path}]),
        );
        assert_eq!(out, json!({"userName": "a"}));
    }

    #[test]
    fn entra_removes_members_by_a_value_array() {
        let out = run_on(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng", "members": [{"value": "u-1"}, {"value": "u-2"}, {"value": "u-3"}]}),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u-1"}, {"value": "u-3"}, {"value": "u-9"}]}]),
        );
        assert_eq!(
            out,
            Ok(json!({"displayName": "Eng", "members": [{"value": "u-2"}]}))
        );
        let out = run_on(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng", "members": [{"value": "u-1"}]}),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u-1"}]}]),
        );
        assert_eq!(out, Ok(json!({"displayName": "Eng"})));
    }

    #[test]
    fn entra_add_on_an_existing_single_value_replaces_it() {
        let out = ok(
            user(),
            json!([{"op": "Add", "path": "displayName", "value": "Countess"}]),
        );
        assert_eq!(out["displayName"], json!("Countess"));
    }

    // Paths and semantics

    #[test]
    fn no_path_extension_objects_merge_into_the_stored_extension() {
        let out = ok(
            user(),
            json!([{"op": "replace", "value": {ENT: {"costCenter": "42", "Department": "Ops"}}}]),
        );
        assert_eq!(
            out[ENT],
            json!({"department": "Ops", "costCenter": "42", "manager": {"value": "m-1"}})
        );
    }

    #[test]
    fn the_extension_urn_as_a_path_merges_or_removes_the_extension() {
        let out = ok(
            user(),
            json!([{"op": "add", "path": ENT, "value": {"division": "North"}}]),
        );
        assert_eq!(
            out[ENT],
            json!({"department": "R&D", "division": "North", "manager": {"value": "m-1"}})
        );
        let out = ok(user(), json!([{"op": "remove", "path": ENT.to_uppercase()}]));
        assert!(out.get(ENT).is_none());
        assert_eq!(
            kind(user(), json!([{"op": "add", "path": ENT, "value": "x"}])),
            Kind::InvalidValue
        );
    }

    #[test]
    fn urn_qualified_paths_reach_core_and_extension_sub_attributes() {
        let out = ok(
            user(),
            json!([
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "King"},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "value": "m-9"}
            ]),
        );
        assert_eq!(out["name"], json!({"givenName": "Ada", "familyName": "King"}));
        assert_eq!(out[ENT]["manager"], json!({"value": "m-9"}));
    }

    #[test]
    fn complex_values_merge_their_sub_attributes_on_add_and_replace() {
        for op in ["add", "replace"] {
            let out = ok(
                user(),
                json!([{"op": op, "path": "name", "value": {"GivenName": "Augusta", "middleName": "Ada"}}]),
            );
            assert_eq!(
                out["name"],
                json!({"givenName": "Augusta", "middleName": "Ada", "familyName": "Lovelace"})
            );
        }
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "name", "value": {"familyName": null}}]),
        );
        assert_eq!(out["name"], json!({"givenName": "Ada"}));
    }

    #[test]
    fn replacing_a_multi_valued_attribute_without_a_filter_replaces_the_list() {
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "new@x.com", "type": "work"}]}]),
        );
        assert_eq!(out["emails"], json!([{"value": "new@x.com", "type": "work"}]));
    }

    #[test]
    fn adding_to_a_multi_valued_attribute_appends_one_value_or_many() {
        let out = ok(
            user(),
            json!([{"op": "add", "path": "emails", "value": {"value": "o@x.com", "type": "other"}}]),
        );
        assert_eq!(out["emails"].as_array().map(Vec::len), Some(3));
        let out = ok(
            user(),
            json!([{"op": "add", "path": "emails", "value": [
            {"value": "ada@home.org", "type": "home"}, {"value": "p@x.com"}, {"value": "q@x.com"}]}]),
        );
        assert_eq!(out["emails"].as_array().map(Vec::len), Some(4));
        assert_eq!(
            ok(user(), json!([{"op": "add", "path": "emails", "value": []}])),
            user()
        );
    }

    #[test]
    fn replacing_filtered_elements_replaces_them_whole() {
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "a@new.org", "type": "other"}}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "ada@x.com", "type": "work", "primary": true}, {"value": "a@new.org", "type": "other"}])
        );
    }

    #[test]
    fn adding_to_filtered_elements_merges_into_them() {
        let out = ok(
            user(),
            json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}]),
        );
        assert_eq!(
            out["emails"][1],
            json!({"value": "ada@home.org", "type": "home", "display": "Home"})
        );
    }

    #[test]
    fn a_sub_attribute_of_a_multi_valued_attribute_without_filter_applies_to_every_element() {
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "emails.display", "value": "E"}]),
        );
        assert!(
            out["emails"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e["display"] == json!("E")))
        );
        let out = ok(user(), json!([{"op": "remove", "path": "emails.type"}]));
        assert!(
            out["emails"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e.get("type").is_none()))
        );
    }

    #[test]
    fn a_replace_whose_filter_matches_nothing_and_describes_no_element_is_no_target() {
        let ops = json!([{"op": "replace", "path": "emails[value co \"nobody\"].value", "value": "x@y"}]);
        assert_eq!(kind(user(), ops), Kind::NoTarget);
        let ops = json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"home\"].value", "value": "x"}]);
        assert_eq!(kind(json!({"userName": "a"}), ops), Kind::NoTarget);
        // Contradictory eq comparisons describe no element either.
        let ops =
            json!([{"op": "add", "path": "emails[type eq \"a\" and type eq \"b\"].value", "value": "x"}]);
        assert_eq!(kind(json!({"userName": "a"}), ops), Kind::NoTarget);
    }

    #[test]
    fn remove_deletes_attributes_sub_attributes_and_filtered_elements() {
        let out = ok(user(), json!([{"op": "remove", "path": "displayName"}]));
        assert!(out.get("displayName").is_none());
        let out = ok(
            user(),
            json!([{"op": "remove", "path": "name.familyName"}, {"op": "remove", "path": "name.givenName"}]),
        );
        assert!(
            out.get("name").is_none(),
            "an emptied complex attribute is dropped"
        );
        let out = ok(
            user(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        );
        assert_eq!(out["emails"], json!([{"value": "ada@home.org", "type": "home"}]));
        let out = ok(
            user(),
            json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}]),
        );
        assert_eq!(out["emails"][1], json!({"value": "ada@home.org"}));
        let out = ok(
            user(),
            json!([{"op": "remove", "path": "emails[type ne \"nothing\"]"}]),
        );
        assert!(out.get("emails").is_none(), "an emptied list is dropped");
    }

    #[test]
    fn removing_something_absent_succeeds() {
        for path in [
            "nickName",
            "name.middleName",
            "emails[type eq \"other\"]",
            "phoneNumbers",
            "x509Certificates.value",
        ] {
            assert_eq!(
                run(user(), json!([{"op": "remove", "path": path}])),
                Ok(user()),
                "{path}"
            );
        }
    }

    #[test]
    fn active_can_be_replaced_but_not_removed_or_unassigned() {
        for ops in [
            json!([{"op": "remove", "path": "active"}]),
            json!([{"op": "Remove", "path": "ACTIVE"}]),
            json!([{"op": "replace", "path": "active", "value": null}]),
            json!([{"op": "replace", "value": {"active": null}}]),
        ] {
            let e = run(user(), ops.clone()).expect_err("active is kept");
            assert_eq!(e.kind, Kind::Mutability, "{ops}");
            assert!(e.detail.contains("replace it with false"), "{}", e.detail);
        }
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "active", "value": false}]),
        );
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn a_null_or_empty_value_removes_like_remove() {
        let out = ok(
            user(),
            json!([
                {"op": "replace", "path": "displayName", "value": null},
                {"op": "add", "path": "name.givenName", "value": ""},
                {"op": "replace", "path": "emails[type eq \"home\"]", "value": null},
                {"op": "replace", "value": {"title": null}}
            ]),
        );
        assert!(out.get("displayName").is_none() && out.get("title").is_none());
        assert_eq!(out["name"], json!({"familyName": "Lovelace"}));
        assert_eq!(
            out["emails"],
            json!([{"value": "ada@x.com", "type": "work", "primary": true}])
        );
        assert!(
            ok(user(), json!([{"op": "add", "path": "emails", "value": null}]))
                .get("emails")
                .is_none()
        );
    }

    #[test]
    fn the_value_just_made_primary_takes_primary_from_the_others() {
        let out = ok(
            user(),
            json!([{"op": "add", "path": "emails", "value": {"value": "n@x.com", "primary": true}}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "ada@x.com", "type": "work"}, {"value": "ada@home.org", "type": "home"},
                   {"value": "n@x.com", "primary": true}])
        );
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "ada@x.com", "type": "work"}, {"value": "ada@home.org", "type": "home", "primary": true}])
        );
        let two = json!([{"op": "replace", "path": "emails.primary", "value": true}]);
        assert_eq!(kind(user(), two), Kind::InvalidValue);
    }

    #[test]
    fn attribute_names_and_filter_values_in_paths_are_case_insensitive() {
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "EMAILS[TYPE EQ \"Work\"].VALUE", "value": "w@x.com"}]),
        );
        assert_eq!(out["emails"][0]["value"], json!("w@x.com"));
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "NAME.GIVENNAME", "value": "A"}]),
        );
        assert_eq!(out["name"]["givenName"], json!("A"));
    }

    // Errors

    #[test]
    fn unknown_attributes_and_extensions_in_paths_are_invalid_paths() {
        for path in [
            "foo",
            "name.foo",
            "emails[type eq \"work\"].foo",
            "userName.sub",
            "urn:example:unknown:1.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize",
            "displayName[value eq \"x\"]",
        ] {
            let e = run(user(), json!([{"op": "replace", "path": path, "value": "x"}])).expect_err(path);
            assert_eq!(e.kind, Kind::InvalidPath, "{path}: {}", e.detail);
        }
        let e = run(user(), json!([{"op": "add", "path": "foo", "value": "x"}])).expect_err("foo");
        assert_eq!(e.detail, "Operations[0]: unknown attribute 'foo'");
    }

    #[test]
    fn read_only_targets_are_mutability_errors() {
        for path in [
            "id",
            "meta",
            "meta.lastModified",
            "groups",
            "groups[value eq \"g\"]",
            "manager.displayName",
        ] {
            let path = if path.starts_with("manager") {
                format!("{ENT}:{path}")
            } else {
                path.to_owned()
            };
            assert_eq!(
                kind(user(), json!([{"op": "replace", "path": path, "value": "x"}])),
                Kind::Mutability,
                "{path}"
            );
            assert_eq!(
                kind(user(), json!([{"op": "remove", "path": path}])),
                Kind::Mutability,
                "{path}"
            );
        }
    }

    #[test]
    fn values_of_the_wrong_type_are_invalid_values() {
        for (path, value) in [
            ("userName", json!(5)),
            ("active", json!("maybe")),
            ("name", json!("Ada")),
            ("emails", json!([7])),
            ("emails[type eq \"work\"].primary", json!("yes")),
            ("meta", json!(1)),
        ] {
            let expected = if path == "meta" {
                Kind::Mutability
            } else {
                Kind::InvalidValue
            };
            assert_eq!(
                kind(user(), json!([{"op": "add", "path": path, "value": value}])),
                expected,
                "{path}"
            );
        }
        assert_eq!(
            kind(user(), json!([{"op": "replace", "value": "active"}])),
            Kind::InvalidValue
        );
        assert_eq!(
            kind(user(), json!([{"op": "replace", "value": {"userName": ["a"]}}])),
            Kind::InvalidValue
        );
    }

    #[test]
    fn too_many_values_in_a_multi_valued_attribute_are_refused() {
        let many: Vec<Value> = (0..MAX_MULTI_VALUES)
            .map(|i| json!({"value": format!("{i}@x")}))
            .collect();
        let doc = ok(
            user(),
            json!([{"op": "replace", "path": "emails", "value": many}]),
        );
        assert_eq!(
            kind(
                doc,
                json!([{"op": "add", "path": "emails", "value": {"value": "one@more"}}])
            ),
            Kind::InvalidValue
        );
    }

    #[test]
    fn removing_or_unassigning_a_required_attribute_is_a_mutability_error() {
        for ops in [
            json!([{"op": "remove", "path": "userName"}]),
            json!([{"op": "replace", "path": "userName", "value": null}]),
            json!([{"op": "replace", "path": "userName", "value": ""}]),
            json!([{"op": "Replace", "value": {"userName": null}}]),
        ] {
            let e = run(user(), ops.clone()).expect_err("userName is required");
            assert_eq!(e.kind, Kind::Mutability, "{ops}");
            assert!(e.detail.contains("'userName' is required"), "{}", e.detail);
        }
        let out = ok(
            user(),
            json!([{"op": "replace", "path": "userName", "value": "lovelace@x.com"}]),
        );
        assert_eq!(out["userName"], json!("lovelace@x.com"));
    }

    #[test]
    fn adding_a_value_already_held_with_more_sub_attributes_changes_nothing() {
        let ops = json!([{"op": "add", "path": "emails", "value": {"value": "ada@home.org"}}]);
        assert_eq!(run(user(), ops), Ok(user()));
        let ops =
            json!([{"op": "add", "path": "emails", "value": {"value": "ada@home.org", "type": "other"}}]);
        assert_eq!(ok(user(), ops)["emails"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn a_created_element_that_contradicts_its_filter_is_no_target() {
        let ops = json!([{"op": "replace", "path": "emails[type eq \"other\"]",
                          "value": {"value": "o@x.com", "type": "home"}}]);
        assert_eq!(kind(user(), ops), Kind::NoTarget);
        let ops = json!([{"op": "replace", "path": "emails[type eq \"other\"]",
                          "value": {"value": "o@x.com", "type": "Other"}}]);
        assert_eq!(
            ok(user(), ops)["emails"][2],
            json!({"type": "Other", "value": "o@x.com"})
        );
    }

    #[test]
    fn details_quote_long_input_cut_short() {
        // Found by fuzzing: a 4 KiB op name came back whole in the detail.
        let long = "x".repeat(4000);
        let bodies = [
            json!({"Operations": [{"op": long, "path": "title", "value": "x"}]}),
            json!({"Operations": [{"op": "add", "path": long, "value": "x"}]}),
            json!({"Operations": [{"op": "add", "path": format!("name.{long}"), "value": "x"}]}),
            json!({"Operations": [{"op": "add", "path": format!("urn:x:{long}"), "value": "x"}]}),
            json!({"Operations": [{"op": "add", "path": format!("emails[value eq \"{long}\" or value eq \"y\"].type"), "value": "x"}]}),
        ];
        for body in bodies {
            let e = parse(&body)
                .and_then(|ops| apply(&USER_RESOURCE, &mut Map::new(), &ops))
                .expect_err("refused");
            assert!(e.detail.len() < 300, "{}", e.detail);
        }
    }

    #[test]
    fn a_failing_operation_leaves_the_resource_untouched() {
        let Value::Object(mut doc) = user() else {
            panic!("object")
        };
        let ops = parse(&json!({"Operations": [
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "id", "value": "x"}
        ]}))
        .expect("parses");
        let e = apply(&USER_RESOURCE, &mut doc, &ops).expect_err("id is read-only");
        assert_eq!(e.kind, Kind::Mutability);
        assert!(e.detail.starts_with("Operations[1]:"), "{}", e.detail);
        assert_eq!(Value::Object(doc), user());
    }
}
