//! RFC 7644 §3.5.2 PATCH: parsing a PatchOp request body and applying its operations to a stored
//! (normalised) resource, including the forms Okta and Entra ID actually send. Incoming values go
//! through the normaliser, so types are checked and names stored canonically; required
//! attributes are checked by the caller afterwards.

use serde_json::{Map, Value};

pub use super::filter::PatchPath;
use super::filter::{self, AttrPath, CompareOp, Filter};
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
                format!("unknown op {other}; expected add, remove or replace"),
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
    let mut work = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(schema, &mut work, op).map_err(|e| in_operation(i, e))?;
    }
    *resource = work;
    Ok(())
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
                Mutability::ReadWrite | Mutability::Immutable => {}
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
                        format!("unknown schema extension in '{whole}'"),
                    )),
                };
            }
        },
    };
    let attr =
        attr.ok_or_else(|| invalid(Kind::InvalidPath, format!("unknown attribute '{}'", path.attr)))?;
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
                format!("unknown attribute '{}.{name}'", attr.name),
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
                // Re-adding a value that is already there (an IdP retrying) changes nothing.
                if !list.contains(&item) {
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
        let described = loc.filter.map_or_else(String::new, |f| format!("[{f}]"));
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
    Ok(Value::Object(element))
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
