//! List requests (RFC 7644 §3.4.2): paging parameters (by index, or by cursor as RFC 9865 adds),
//! attribute projection, and the ListResponse envelope.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::schema::{LIST_RESPONSE_SCHEMA, SEARCH_REQUEST_SCHEMA};
use super::sort::{self, Sort};
use super::{Invalid, Kind, invalid};

/// Page size when the client gives none, and the most we return in one page (advertised in
/// /ServiceProviderConfig as filter.maxResults, and as pagination.defaultPageSize and
/// pagination.maxPageSize).
pub const DEFAULT_COUNT: i64 = 100;
pub const MAX_COUNT: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 are treated as 1 (RFC 7644 §3.4.2.4). 1 with a cursor.
    pub start_index: i64,
    /// 0 asks for totalResults only (never with a cursor: 1 to [`MAX_COUNT`] there).
    pub count: i64,
    /// Paging by cursor (RFC 9865): the `cursor` the request sent, empty for the first page.
    /// `None` pages by `startIndex`, the default.
    pub cursor: Option<String>,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
    pub sort: Option<Sort>,
}

impl ListParams {
    /// Reads the query string. Parameter names are matched case-insensitively, as some clients
    /// send `startindex` or `Count`.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, Invalid> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let int = |name: &str| -> Result<Option<i64>, Invalid> {
            match get(name).map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                    invalid(
                        Kind::InvalidValue,
                        format!("'{name}' must be an integer, got '{s}'"),
                    )
                }),
            }
        };
        Self::new(
            get("filter"),
            Paging {
                start_index: int("startIndex")?,
                count: int("count")?,
                // `?cursor` and `?cursor=` both start a walk.
                cursor: get("cursor"),
            },
            split_list(get("attributes")),
            split_list(get("excludedAttributes")),
            sort::parse(get("sortBy"), get("sortOrder"))?,
        )
    }

    /// Reads a `POST .search` body (RFC 7644 §3.4.3): the same parameters as the query string,
    /// as JSON members (names matched case-insensitively), under the SearchRequest schema.
    pub fn from_search_request(body: &Value) -> Result<Self, Invalid> {
        let Value::Object(obj) = body else {
            return Err(invalid(
                Kind::InvalidSyntax,
                "the search request must be a JSON object",
            ));
        };
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        };
        let declared = get("schemas").and_then(Value::as_array).is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
            })
        });
        if !declared {
            return Err(invalid(
                Kind::InvalidSyntax,
                format!("a search request must declare \"schemas\": [\"{SEARCH_REQUEST_SCHEMA}\"]"),
            ));
        }
        let text = |name: &str| -> Result<Option<&str>, Invalid> {
            match get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(invalid(Kind::InvalidValue, format!("'{name}' must be a string"))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, Invalid> {
            match get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| invalid(Kind::InvalidValue, format!("'{name}' must be an integer"))),
            }
        };
        // RFC 7644 §3.4.3 makes these multi-valued lists of strings; a comma-separated string,
        // as in the query form, is read the same way.
        let names = |name: &str| -> Result<Vec<String>, Invalid> {
            match get(name) {
                None => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(split_list(Some(s))),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(|s| s.trim().to_owned()).ok_or_else(|| {
                            invalid(
                                Kind::InvalidValue,
                                format!("'{name}' must be a list of attribute names"),
                            )
                        })
                    })
                    .filter(|n| n.as_ref().map_or(true, |n| !n.is_empty()))
                    .collect(),
                Some(_) => Err(invalid(
                    Kind::InvalidValue,
                    format!("'{name}' must be a list of attribute names"),
                )),
            }
        };
        Self::new(
            text("filter")?,
            Paging {
                start_index: int("startIndex")?,
                count: int("count")?,
                cursor: text("cursor")?,
            },
            names("attributes")?,
            names("excludedAttributes")?,
            sort::parse(text("sortBy")?, text("sortOrder")?)?,
        )
    }

    /// Paging by index as RFC 7644 §3.4.2.4 has it: a `startIndex` below 1 is 1, a negative
    /// `count` is 0, and a `count` above [`MAX_COUNT`] is [`MAX_COUNT`] (advertised as
    /// filter.maxResults). Paging by cursor as RFC 9865 has it: `count` is 1 to [`MAX_COUNT`]
    /// (`maxPageSize`) or `invalidCount`, and a `startIndex` beside the cursor asks for both
    /// methods at once, which is refused rather than one of them silently chosen.
    fn new(
        filter: Option<&str>,
        paging: Paging<'_>,
        attributes: Vec<String>,
        excluded_attributes: Vec<String>,
        sort: Option<Sort>,
    ) -> Result<Self, Invalid> {
        let Paging {
            start_index,
            count,
            cursor,
        } = paging;
        let (start_index, count) = match cursor {
            None => (
                start_index.unwrap_or(1).max(1),
                count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT),
            ),
            Some(_) if start_index.is_some() => {
                return Err(invalid(
                    Kind::InvalidValue,
                    "startIndex and cursor ask for two kinds of paging: send startIndex to page \
                     by index, or cursor (empty for the first page) to page by cursor, not both",
                ));
            }
            Some(_) => match count.unwrap_or(DEFAULT_COUNT) {
                count @ 1..=MAX_COUNT => (1, count),
                count => {
                    return Err(invalid(
                        Kind::InvalidCount,
                        format!(
                            "with a cursor, count must be between 1 and {MAX_COUNT} (maxPageSize \
                             in /ServiceProviderConfig), got {count}"
                        ),
                    ));
                }
            },
        };
        Ok(Self {
            filter: filter.map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned),
            start_index,
            count,
            cursor: cursor.map(str::to_owned),
            attributes,
            excluded_attributes,
            sort,
        })
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }
}

/// The paging parameters as a request gave them, before [`ListParams::new`] reads them.
struct Paging<'a> {
    start_index: Option<i64>,
    count: Option<i64>,
    cursor: Option<&'a str>,
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// A page of a cursor walk (RFC 9865): no `startIndex`, and `nextCursor` on every page but the
/// last, whose absence is how the client knows it has everything.
pub fn cursor_list_response(total: i64, resources: Vec<Value>, next: Option<String>) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(next) = next {
        body["nextCursor"] = Value::String(next);
    }
    body
}

/// Applies `attributes` / `excludedAttributes` to a rendered resource. `id`, `schemas` and
/// `meta` are always returned. Names may be `attr`, `attr.sub` or URN-qualified; a name
/// qualified with another resource type's core schema (in a search over every type) selects
/// nothing.
pub fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(obj) = resource else {
        return resource;
    };
    // The first schema of a rendered resource is its core schema.
    let core = obj
        .get("schemas")
        .and_then(|s| s.get(0))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let attributes: Vec<String> = attributes.iter().map(|a| unqualified(a, &core)).collect();
    let excluded: Vec<String> = excluded.iter().map(|a| unqualified(a, &core)).collect();
    const ALWAYS: [&str; 3] = ["id", "schemas", "meta"];
    let always = |k: &str| ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(k));
    let mut out = Map::new();
    if !attributes.is_empty() {
        for (k, v) in &obj {
            if always(k) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            if let Some(v) = select(k, v, &attributes) {
                out.insert(k.clone(), v);
            }
        }
    } else {
        out = obj;
    }
    for name in &excluded {
        let (top, sub) = split_name(name);
        if always(top) {
            continue;
        }
        let Some(key) = out.keys().find(|k| k.eq_ignore_ascii_case(top)).cloned() else {
            continue;
        };
        match sub {
            None => {
                out.remove(&key);
            }
            Some(sub) => {
                if let Some(Value::Object(inner)) = out.get_mut(&key)
                    && let Some(sk) = inner.keys().find(|k| k.eq_ignore_ascii_case(sub)).cloned()
                {
                    inner.remove(&sk);
                }
            }
        }
    }
    Value::Object(out)
}

/// Whether a response must carry the top-level attribute `attr` after projection: named in
/// `attributes` (whole or by a sub-attribute), else `by_default` unless `excluded` as a whole.
/// Lets callers skip computing attributes that would be projected away (a group's members).
pub fn requested(attr: &str, attributes: &[String], excluded: &[String], by_default: bool) -> bool {
    // `members`, `members.value`, `urn:...:core:2.0:Group:members`.
    let top = |name: &str| {
        let name = name.rsplit(':').next().unwrap_or(name);
        name.split('.').next().unwrap_or(name).to_owned()
    };
    if !attributes.is_empty() {
        return attributes.iter().any(|a| top(a).eq_ignore_ascii_case(attr));
    }
    by_default
        && !excluded.iter().any(|e| {
            let bare = e.rsplit(':').next().unwrap_or(e);
            bare.eq_ignore_ascii_case(attr)
        })
}

/// `urn:...:core:2.0:User:name.givenName` → `name.givenName` when `core` is that URN.
fn unqualified(name: &str, core: &str) -> String {
    match (name.get(..core.len()), name.get(core.len()..)) {
        (Some(prefix), Some(rest)) if !core.is_empty() && prefix.eq_ignore_ascii_case(core) => {
            rest.strip_prefix(':').unwrap_or(name).to_owned()
        }
        _ => name.to_owned(),
    }
}

/// Splits `urn:...:User:attr.sub` or `attr.sub` into the top-level key and an optional sub.
fn split_name(name: &str) -> (&str, Option<&str>) {
    if super::resource::is_urn(name) {
        // `urn:...:User:department` addresses an attribute inside the extension object.
        if let Some(idx) = name.rfind(':') {
            let (urn, attr) = (&name[..idx], &name[idx + 1..]);
            if attr.contains('.') || urn.ends_with("2.0") {
                return (name, None);
            }
            return (urn, Some(attr));
        }
    }
    match name.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (name, None),
    }
}

fn select(key: &str, value: &Value, attributes: &[String]) -> Option<Value> {
    let mut subs: Vec<&str> = Vec::new();
    for a in attributes {
        if a.eq_ignore_ascii_case(key) {
            return Some(value.clone());
        }
        let (top, sub) = split_name(a);
        if top.eq_ignore_ascii_case(key) {
            match sub {
                Some(s) => subs.push(s),
                None => return Some(value.clone()),
            }
        }
    }
    if subs.is_empty() {
        return None;
    }
    let pick = |v: &Value| -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    };
    Some(match value {
        Value::Array(items) => Value::Array(items.iter().map(pick).collect()),
        v => pick(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let p = ListParams::from_query(&q(&[])).unwrap();
        assert_eq!((p.start_index, p.count), (1, DEFAULT_COUNT));
        let p = ListParams::from_query(&q(&[("startIndex", "0"), ("count", "5000")])).unwrap();
        assert_eq!((p.start_index, p.count), (1, MAX_COUNT));
        let p = ListParams::from_query(&q(&[("startindex", "3"), ("Count", "-2")])).unwrap();
        assert_eq!((p.start_index, p.count), (3, 0));
    }

    #[test]
    fn an_empty_cursor_asks_for_cursor_paging_with_the_default_page_size() {
        for query in [q(&[("cursor", "")]), q(&[("Cursor", ""), ("count", " ")])] {
            let p = ListParams::from_query(&query).unwrap();
            assert_eq!(p.cursor.as_deref(), Some(""));
            assert_eq!((p.start_index, p.count), (1, DEFAULT_COUNT));
        }
        let p = ListParams::from_search_request(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA], "cursor": "abc", "count": 7
        }))
        .unwrap();
        assert_eq!((p.cursor.as_deref(), p.count), (Some("abc"), 7));
        assert_eq!(ListParams::from_query(&q(&[])).unwrap().cursor, None);
    }

    #[test]
    fn with_a_cursor_a_count_outside_one_to_the_maximum_is_an_invalid_count() {
        for count in ["0", "-1", "1001"] {
            let err = ListParams::from_query(&q(&[("cursor", ""), ("count", count)])).unwrap_err();
            assert_eq!(err.kind, Kind::InvalidCount, "{count}");
        }
        let p = ListParams::from_query(&q(&[("cursor", ""), ("count", "1000")])).unwrap();
        assert_eq!(p.count, MAX_COUNT);
        let err = ListParams::from_search_request(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA], "cursor": "", "count": 0
        }))
        .unwrap_err();
        assert_eq!(err.kind, Kind::InvalidCount);
    }

    #[test]
    fn start_index_beside_a_cursor_is_an_invalid_value() {
        let err = ListParams::from_query(&q(&[("cursor", ""), ("startIndex", "1")])).unwrap_err();
        assert_eq!(err.kind, Kind::InvalidValue);
        let err = ListParams::from_search_request(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA], "cursor": "", "startIndex": 3
        }))
        .unwrap_err();
        assert_eq!(err.kind, Kind::InvalidValue);
        assert_eq!(
            ListParams::from_search_request(&json!({
                "schemas": [SEARCH_REQUEST_SCHEMA], "cursor": 5
            }))
            .unwrap_err()
            .kind,
            Kind::InvalidValue
        );
    }

    #[test]
    fn a_cursor_page_has_no_start_index_and_the_last_has_no_next_cursor() {
        let r = cursor_list_response(3, vec![json!({"id": "a"})], Some("n".into()));
        assert_eq!(r["nextCursor"], "n");
        assert!(r.get("startIndex").is_none());
        let r = cursor_list_response(3, vec![json!({"id": "c"})], None);
        assert!(r.get("nextCursor").is_none());
        assert_eq!(r["itemsPerPage"], 1);
    }

    #[test]
    fn non_numeric_paging_is_an_invalid_value() {
        assert_eq!(
            ListParams::from_query(&q(&[("count", "ten")])).unwrap_err().kind,
            Kind::InvalidValue
        );
    }

    #[test]
    fn the_list_response_has_integer_counters() {
        let r = list_response(7, 1, vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(r["totalResults"], 7);
        assert_eq!(r["itemsPerPage"], 2);
        assert_eq!(r["startIndex"], 1);
    }

    #[test]
    fn an_attribute_is_requested_when_named_or_by_default_unless_excluded() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(requested("members", &[], &[], true));
        assert!(!requested("members", &[], &[], false));
        assert!(!requested("members", &[], &v(&["Members"]), true));
        assert!(requested("members", &[], &v(&["members.display"]), true));
        assert!(requested(
            "members",
            &v(&["displayName", "members.value"]),
            &[],
            false
        ));
        assert!(!requested("members", &v(&["displayName"]), &[], true));
        assert!(requested(
            "members",
            &v(&["urn:ietf:params:scim:schemas:core:2.0:Group:members"]),
            &[],
            false
        ));
    }

    #[test]
    fn search_requests_read_the_same_parameters_as_the_query() {
        let p = ListParams::from_search_request(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA],
            "attributes": ["userName", "name.familyName"],
            "excludedattributes": "emails, groups",
            "filter": "userName sw \"a\"",
            "sortBy": "name.familyName",
            "sortOrder": "descending",
            "startIndex": 0,
            "count": 5000,
        }))
        .unwrap();
        assert_eq!(p.attributes, ["userName", "name.familyName"]);
        assert_eq!(p.excluded_attributes, ["emails", "groups"]);
        assert_eq!(p.filter.as_deref(), Some("userName sw \"a\""));
        assert!(p.sort.as_ref().unwrap().descending);
        assert_eq!((p.start_index, p.count), (1, MAX_COUNT));
        let p = ListParams::from_search_request(&json!({"schemas": [SEARCH_REQUEST_SCHEMA]})).unwrap();
        assert_eq!((p.start_index, p.count, p.sort), (1, DEFAULT_COUNT, None));
    }

    #[test]
    fn a_search_request_must_declare_its_schema() {
        for body in [
            json!({}),
            json!({"schemas": []}),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}),
            json!({"schemas": SEARCH_REQUEST_SCHEMA}),
            json!([]),
        ] {
            assert_eq!(
                ListParams::from_search_request(&body).unwrap_err().kind,
                Kind::InvalidSyntax,
                "{body}"
            );
        }
    }

    #[test]
    fn search_request_members_of_the_wrong_type_are_invalid_values() {
        for (k, v) in [
            ("count", json!("ten")),
            ("startIndex", json!(1.5)),
            ("filter", json!(7)),
            ("sortBy", json!(["userName"])),
            ("attributes", json!([1])),
            ("excludedAttributes", json!({"a": 1})),
        ] {
            let mut body = json!({"schemas": [SEARCH_REQUEST_SCHEMA]});
            body[k] = v;
            assert_eq!(
                ListParams::from_search_request(&body).unwrap_err().kind,
                Kind::InvalidValue,
                "{k}"
            );
        }
    }

    #[test]
    fn core_urn_qualified_names_project_like_bare_ones() {
        let user = "urn:ietf:params:scim:schemas:core:2.0:User";
        let r = json!({"id": "1", "schemas": [user], "meta": {}, "userName": "a", "name": {"givenName": "A", "familyName": "B"}});
        let p = project(r.clone(), &[format!("{user}:name.givenName")], &[]);
        assert_eq!(
            p,
            json!({"id": "1", "schemas": [user], "meta": {}, "name": {"givenName": "A"}})
        );
        let p = project(r.clone(), &[], &[format!("{}:userName", user.to_uppercase())]);
        assert!(p.get("userName").is_none());
        // Another type's core URN names nothing here.
        let group = "urn:ietf:params:scim:schemas:core:2.0:Group";
        let p = project(r, &[format!("{group}:userName")], &[]);
        assert_eq!(p, json!({"id": "1", "schemas": [user], "meta": {}}));
    }

    #[test]
    fn projection_keeps_id_schemas_and_meta() {
        let r = json!({"id": "1", "schemas": [], "meta": {}, "userName": "a", "name": {"givenName": "A", "familyName": "B"}});
        let p = project(r.clone(), &["name.givenName".into()], &[]);
        assert_eq!(
            p,
            json!({"id": "1", "schemas": [], "meta": {}, "name": {"givenName": "A"}})
        );
        let p = project(r, &[], &["name".into(), "id".into()]);
        assert_eq!(p, json!({"id": "1", "schemas": [], "meta": {}, "userName": "a"}));
    }
}
