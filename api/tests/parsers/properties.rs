//! Property tests of the parsers on their own (no database): whatever the input, no panic, and
//! the invariants the fuzz entry points assert hold (`scim_api::fuzzing`). Case counts suit a
//! loaded 2-core machine; PROPTEST_CASES raises or lowers them, PROPTEST_RNG_SEED replays a run.

use proptest::prelude::*;
use proptest::sample::select;
use scim_api::fuzzing;
use scim_api::scim::filter;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::grammar::{self, GROUPS, Ids, USERS};

/// `default` cases unless PROPTEST_CASES says otherwise.
pub fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures are reported with their seed and minimal input; no files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const SOME_ID: Uuid = Uuid::from_u128(0x0190f0a4_3c2e_7d5b_9a1e_6f4b2c8d1e00);

fn ids() -> Ids<'static> {
    Ids {
        users: std::slice::from_ref(&SOME_ID),
        groups: std::slice::from_ref(&SOME_ID),
    }
}

/// Attribute names as clients spell them, good and bad.
const KEYS: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "userName",
    "USERNAME",
    "name",
    "givenName",
    "familyName",
    "name.givenName",
    "displayName",
    "title",
    "active",
    "password",
    "emails",
    "value",
    "type",
    "primary",
    "display",
    "phoneNumbers",
    "addresses",
    "streetAddress",
    "groups",
    "members",
    "$ref",
    "meta",
    "lastModified",
    "roles",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "manager",
    "department",
    "Operations",
    "op",
    "path",
    "shoeSize",
    "",
];

/// Object keys: mostly attribute names, sometimes anything (with a URN-like start).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(KEYS).prop_map(str::to_owned),
        1 => "(urn|URN|ur)?\\PC{0,6}",
    ]
}

/// JSON shaped like SCIM bodies: objects keyed by attribute names, SCIM-ish leaves.
fn scim_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => grammar::word().prop_map(Value::String),
        1 => select(&["True", "False", "true", "work", "User", "Group", "2024-01-01T00:00:00Z", "u-1"][..])
            .prop_map(|s| Value::String(s.to_owned())),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i32>().prop_map(|n| json!(n)),
        1 => Just(Value::Null),
        1 => "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// PATCH paths: realistic ones, generated value-filter paths, and noise.
fn patch_path() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => select(&[
            "title", "name.givenName", "name", "emails", "emails.value", "emails[type eq \"work\"].value",
            "emails[type eq \"work\"]", "emails[primary eq true].primary", "addresses[type eq \"home\"].locality",
            "phoneNumbers[type eq \"mobile\"].value", "active", "userName", "displayName", "externalId", "id", "meta",
            "groups", "password", "members", "members[value eq \"u-1\"]", "members[display sw \"a\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
            "urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:core:2.0:Group:members", "",
        ][..])
        .prop_map(|p| Value::String(p.to_owned())),
        2 => grammar::filter(&USERS).prop_map(|f| match f {
            grammar::GenFilter::Attr { path, .. } => Value::String(path.to_owned()),
            other => Value::String(format!("emails[{}].value", other.render(&ids()))),
        }),
        1 => "[a-zA-Z.:\\[\\]\" ]{0,20}".prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<i8>().prop_map(|n| json!(n)),
    ]
}

fn patch_op() -> impl Strategy<Value = Value> {
    (
        select(
            &[
                "add", "Add", "remove", "Remove", "replace", "Replace", "REPLACE", "move", "",
            ][..],
        ),
        proptest::option::weighted(0.8, patch_path()),
        proptest::option::weighted(0.8, scim_json()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(op));
            if let Some(p) = path {
                o.insert("path".into(), p);
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
}

fn patch_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => proptest::collection::vec(patch_op(), 1..5).prop_map(|ops| json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops
        })),
        1 => scim_json(),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn any_text_is_a_filter_or_an_invalid_filter(text in any::<String>()) {
        fuzzing::filter(text.as_bytes());
        fuzzing::attr_path(text.as_bytes());
    }

    #[test]
    fn text_made_of_filter_syntax_is_a_filter_or_an_invalid_filter(text in "[a-zA-Z0-9.:$_ \\[\\]()\"\\\\-]{0,48}") {
        fuzzing::filter(text.as_bytes());
        fuzzing::attr_path(text.as_bytes());
    }

    #[test]
    fn any_bytes_reach_every_parser_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::filter(&data);
        fuzzing::attr_path(&data);
        fuzzing::patch(&data);
        fuzzing::user_body(&data);
        fuzzing::group_body(&data);
    }

    #[test]
    fn generated_user_filters_parse_and_render_back_to_the_same_tree(f in grammar::filter(&USERS)) {
        let text = f.render(&ids());
        let parsed = filter::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        fuzzing::filter(text.as_bytes());
    }

    #[test]
    fn generated_group_filters_parse_and_render_back_to_the_same_tree(f in grammar::filter(&GROUPS)) {
        let text = f.render(&ids());
        let parsed = filter::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        fuzzing::filter(text.as_bytes());
    }

    #[test]
    fn damaged_filters_are_filters_or_invalid_filters(
        f in grammar::filter(&USERS),
        at in any::<usize>(),
        cut in 0usize..4,
        insert in select(&["", "(", ")", "[", "]", "\"", "\\", " and ", " or ", "not", ".", ":", "pr", " eq "][..]),
    ) {
        let mut text = f.render(&ids());
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        text.replace_range(at..end, insert);
        fuzzing::filter(text.as_bytes());
    }

    #[test]
    fn any_patch_body_applies_atomically_or_fails_cleanly(body in patch_body()) {
        fuzzing::patch(body.to_string().as_bytes());
    }

    #[test]
    fn any_user_body_normalises_or_fails_cleanly(body in scim_json()) {
        fuzzing::user_body(body.to_string().as_bytes());
    }

    #[test]
    fn any_group_body_normalises_or_fails_cleanly(body in scim_json()) {
        fuzzing::group_body(body.to_string().as_bytes());
    }

    #[test]
    fn generated_users_are_valid_bodies(u in grammar::user()) {
        fuzzing::user_body(u.body().to_string().as_bytes());
    }
}
