//! Entry points for fuzzing the request parsers. Each takes raw bytes, as a fuzzer produces
//! them, feeds them to one parser the way a request would reach it, and asserts what must hold
//! whatever the input: a panic is a finding. The cargo-fuzz targets (`fuzz/`), the replay of
//! their corpora on the stable toolchain and the no-panic property tests all call these, so a
//! crash found by one is reproduced by the others. The server never calls them.

use sea_orm::sea_query::{PostgresQueryBuilder, Query};
use serde_json::{Map, Value, json};

use crate::directory::{Scope, filter_cost, group_filter, user_filter};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, ResourceSchema, USER_RESOURCE};
use crate::scim::{Invalid, Kind, filter, group, members, patch, resource, user};

/// A `filter` query parameter: parsed, rendered back, evaluated in memory against a sample user
/// and group, and translated to the SQL of both list endpoints.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = match filter::parse(text) {
        Ok(f) => f,
        Err(e) => return expect_kind(&e, Kind::InvalidFilter, text),
    };
    let rendered = parsed.to_string();
    assert_eq!(
        filter::parse(&rendered).as_ref(),
        Ok(&parsed),
        "{text:?} rendered as {rendered:?} parses differently"
    );
    filter::matches(&parsed, &sample_user_rendered(), &USER_RESOURCE);
    filter::matches(&parsed, &sample_group_rendered(), &GROUP_RESOURCE);
    // The server translates only what the cost check admits (`Query::check_cost`).
    if filter_cost::check(&parsed).is_err() {
        return;
    }
    for cond in [
        user_filter::to_sql(&parsed, Scope::OneType),
        group_filter::to_sql(&parsed, Scope::OneType),
    ] {
        match cond {
            Ok(cond) => {
                let (sql, values) = Query::select().expr(cond).build(PostgresQueryBuilder);
                assert!(
                    sql.matches('$').count() >= values.0.len(),
                    "{text:?}: every bound value has a placeholder: {sql}"
                );
            }
            Err(e) => expect_kind(&e, Kind::InvalidFilter, text),
        }
    }
}

/// An attribute path as `sortBy`/`attributes` carry it, and as a PATCH `path`.
pub fn attr_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match filter::parse_attr_path(text) {
        Ok(path) => {
            let rendered = path.to_string();
            assert_eq!(
                filter::parse_attr_path(&rendered).as_ref(),
                Ok(&path),
                "{text:?} rendered as {rendered:?}"
            );
        }
        Err(e) => expect_kind(&e, Kind::InvalidPath, text),
    }
    match filter::parse_patch_path(text) {
        Ok(path) => {
            let rendered = path.to_string();
            assert_eq!(
                filter::parse_patch_path(&rendered).as_ref(),
                Ok(&path),
                "{text:?} rendered as {rendered:?}"
            );
        }
        Err(e) => expect_kind(&e, Kind::InvalidPath, text),
    }
}

/// A PATCH request body, applied to a sample user and to a sample group (members split off as
/// the Groups endpoint does). A failing PATCH leaves the resource as it was; a successful one
/// leaves it in stored form with at most one primary value per attribute.
pub fn patch(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let ops = match patch::parse(&body) {
        Ok(ops) => ops,
        Err(e) => return expect_detail(&e),
    };
    let start = sample_user();
    let mut doc = start.clone();
    match patch::apply(&USER_RESOURCE, &mut doc, &ops) {
        Ok(()) => {
            check_stored(&USER_RESOURCE, &doc);
            let _ = user::validate(&doc, Some(&start));
            let _ = user::snapshot(&doc, false);
        }
        Err(e) => {
            expect_detail(&e);
            assert_eq!(doc, start, "a failed PATCH changed the user");
        }
    }
    let plan = match members::plan(ops) {
        Ok(plan) => plan,
        Err(e) => return expect_detail(&e),
    };
    let start = sample_group();
    let mut doc = start.clone();
    match patch::apply_numbered(&GROUP_RESOURCE, &mut doc, &plan.attributes) {
        Ok(()) => {
            check_stored(&GROUP_RESOURCE, &doc);
            assert!(
                !doc.contains_key("members"),
                "members stay out of the group document"
            );
        }
        Err(e) => {
            expect_detail(&e);
            assert_eq!(doc, start, "a failed PATCH changed the group");
        }
    }
}

/// A POST/PUT /Users body: normalised (a second pass changes nothing), validated, rendered.
pub fn user_body(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let doc = match resource::normalize(&USER_RESOURCE, &body) {
        Ok(doc) => doc,
        Err(e) => return expect_detail(&e),
    };
    check_stored(&USER_RESOURCE, &doc);
    if user::validate(&doc, None).is_ok() {
        let meta = sample_meta();
        let rendered = user::render(&doc, &meta, "https://scim.example.test/scim/v2");
        assert!(rendered.get("id").is_some() && rendered.get("meta").is_some());
        let _ = user::snapshot(&doc, false);
    }
}

/// A POST/PUT /Groups body: members split off, the rest normalised and validated.
pub fn group_body(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match group::parse(&body) {
        Ok(parsed) => {
            check_stored(&GROUP_RESOURCE, &parsed.doc);
            assert!(
                !parsed.doc.contains_key("members"),
                "members stay out of the group document"
            );
            assert!(group::validate(&parsed.doc).is_ok());
            if let Some(ids) = &parsed.members {
                assert!(
                    ids.iter()
                        .all(|m| !m.value.trim().is_empty() && m.value.trim() == m.value)
                );
            }
            let _ = group::snapshot(&parsed.doc, false);
        }
        Err(e) => expect_detail(&e),
    }
}

fn expect_kind(e: &Invalid, kind: Kind, input: &str) {
    assert_eq!(e.kind, kind, "{input:?}: {}", e.detail);
    expect_detail(e);
}

/// Error details are shown to IdP admins and logged: never empty, never the whole input.
fn expect_detail(e: &Invalid) {
    assert!(!e.detail.is_empty(), "{:?} without a detail", e.kind);
    assert!(e.detail.len() <= 2048, "a {}-byte detail", e.detail.len());
}

/// What the directory stores: normalising it again changes nothing, and no multi-valued
/// attribute has two primary values.
fn check_stored(schema: &ResourceSchema, doc: &Map<String, Value>) {
    let again = resource::normalize_attributes(schema, doc);
    assert_eq!(
        again.as_ref(),
        Ok(doc),
        "not in stored form: {}",
        Value::Object(doc.clone())
    );
    for (name, value) in doc.iter().chain(
        doc.get(ENTERPRISE_USER_SCHEMA)
            .and_then(Value::as_object)
            .into_iter()
            .flatten(),
    ) {
        if let Value::Array(items) = value {
            let primaries = items
                .iter()
                .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
                .count();
            assert!(primaries <= 1, "{primaries} primary values in '{name}'");
        }
    }
}

fn sample_meta() -> crate::scim::meta::Meta {
    crate::scim::meta::Meta {
        id: uuid::Uuid::from_u128(0x2819c223_7f76_453a_919d_413861904646),
        created: chrono::DateTime::UNIX_EPOCH,
        last_modified: chrono::DateTime::UNIX_EPOCH,
        version: 1,
        revision: 1,
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A stored user with something under every kind of attribute a path can reach.
fn sample_user() -> Map<String, Value> {
    object(json!({
        "userName": "ada@x.com",
        "externalId": "00u1",
        "active": true,
        "displayName": "Ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "title": "Analyst",
        "emails": [
            {"value": "ada@x.com", "type": "work", "primary": true},
            {"value": "ada@home.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "primary": true}],
        "x509Certificates": [{"value": "MIIC"}],
        ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m-1"}}
    }))
}

fn sample_user_rendered() -> Value {
    user::render(
        &sample_user(),
        &sample_meta(),
        "https://scim.example.test/scim/v2",
    )
}

fn sample_group() -> Map<String, Value> {
    object(json!({"displayName": "Eng", "externalId": "okta-1"}))
}

fn sample_group_rendered() -> Value {
    let member = crate::directory::memberships::Member {
        key: crate::directory::memberships::Key::User(sample_meta().id),
        display: Some("ada@x.com".into()),
        sent_type: None,
    }
    .render("https://scim.example.test/scim/v2");
    group::render(
        &sample_group(),
        &sample_meta(),
        "https://scim.example.test/scim/v2",
        Some(vec![member]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_are_in_stored_form() {
        check_stored(&USER_RESOURCE, &sample_user());
        check_stored(&GROUP_RESOURCE, &sample_group());
    }

    #[test]
    fn entry_points_take_any_bytes() {
        for data in [&b""[..], b"\xff\xfe", b"{", b"null", b"[]", b"userName eq \"a\""] {
            filter(data);
            attr_path(data);
            patch(data);
            user_body(data);
            group_body(data);
        }
    }
}
