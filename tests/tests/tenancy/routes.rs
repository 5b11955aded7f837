//! Every endpoint the api serves, and a check against the api's own route declarations: a
//! route added there without being added here fails `the_route_table_lists_every_route_the_api_declares`.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use tests::okta_user;
use uuid::Uuid;

use crate::{GROUP_SCHEMA, USER_SCHEMA, bulk_request, patch, search_request};

/// Endpoints that need a tenant's token, as (method, path template). `ANY` is a route that
/// answers every method (axum's `any`).
pub const TENANT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/scim/v2"),
    ("POST", "/scim/v2/.search"),
    ("GET", "/scim/v2/Users"),
    ("POST", "/scim/v2/Users"),
    ("POST", "/scim/v2/Users/.search"),
    ("GET", "/scim/v2/Users/{id}"),
    ("PUT", "/scim/v2/Users/{id}"),
    ("PATCH", "/scim/v2/Users/{id}"),
    ("DELETE", "/scim/v2/Users/{id}"),
    ("GET", "/scim/v2/Groups"),
    ("POST", "/scim/v2/Groups"),
    ("POST", "/scim/v2/Groups/.search"),
    ("GET", "/scim/v2/Groups/{id}"),
    ("PUT", "/scim/v2/Groups/{id}"),
    ("PATCH", "/scim/v2/Groups/{id}"),
    ("DELETE", "/scim/v2/Groups/{id}"),
    ("GET", "/scim/v2/ServiceProviderConfig"),
    ("GET", "/scim/v2/ResourceTypes"),
    ("GET", "/scim/v2/ResourceTypes/{name}"),
    ("GET", "/scim/v2/Schemas"),
    ("GET", "/scim/v2/Schemas/{urn}"),
    ("GET", "/scim/v2/Roles"),
    ("GET", "/scim/v2/Roles/{id}"),
    ("GET", "/scim/v2/Entitlements"),
    ("GET", "/scim/v2/Entitlements/{id}"),
    ("POST", "/scim/v2/Bulk"),
    ("ANY", "/scim/v2/Me"),
];

/// The discovery endpoints of `TENANT_ROUTES` (RFC 7644 §4): the same for every tenant.
pub fn is_discovery(template: &str) -> bool {
    ["ServiceProviderConfig", "ResourceTypes", "Schemas"]
        .iter()
        .any(|r| template.starts_with(&format!("/scim/v2/{r}")))
}

/// A role or entitlement by id: `request` names a user's id there, which no tenant defined as
/// one, so even the owner gets 404 (tests/groups/roles.rs reads defined ones).
pub fn names_a_definition(template: &str) -> bool {
    ["/scim/v2/Roles/", "/scim/v2/Entitlements/"]
        .iter()
        .any(|p| template.starts_with(p))
}

/// Searches (`POST .../.search`): reads, though they are POSTs.
pub fn is_search(template: &str) -> bool {
    template.ends_with("/.search")
}

/// Operational endpoints, open without a token by design.
/// (`/metrics` is on a listener of its own, see `what_is_open_without_a_token_names_no_tenant_data`.)
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
];

/// Endpoints that take an event stream's own token, not a tenant's (tests/events covers them).
pub const STREAM_ROUTES: &[(&str, &str)] = &[("POST", "/events/streams/{id}")];

/// Endpoints that need a tenant's token and name something only an asynchronous write makes
/// (tests/events/asynchronous.rs covers their tokens and tenants).
pub const ASYNC_ROUTES: &[(&str, &str)] = &[("GET", "/scim/v2/AsyncRequests/{txn}")];

/// One concrete request for a route of `TENANT_ROUTES`: `{id}` names `user` or `group`, writes
/// carry a body the api would accept from the owner, a search looks for `user` or `group` by
/// id, and a bulk request would change `user`. An `ANY` route is asked with GET.
pub fn request(method: &str, template: &str, user: Uuid, group: Uuid) -> (Method, String, Option<Value>) {
    let is_group = template.starts_with("/scim/v2/Groups");
    let id = if is_group { group } else { user };
    let path = template
        .replace("{id}", &id.to_string())
        .replace("{name}", "User")
        .replace("{urn}", USER_SCHEMA);
    let body = match (method, is_group) {
        _ if is_search(template) => Some(search_request(json!({"filter": format!("id eq \"{id}\"")}))),
        _ if template.ends_with("/Bulk") => Some(bulk_request(json!([{
            "method": "PATCH",
            "path": format!("/Users/{user}"),
            "data": patch(json!([{"op": "replace", "value": {"active": false}}])),
        }]))),
        ("POST" | "PUT", false) => Some(okta_user("written@any.test", "Wri", "Tten")),
        ("POST" | "PUT", true) => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Written"})),
        ("PATCH", false) => Some(patch(json!([{"op": "replace", "value": {"active": false}}]))),
        ("PATCH", true) => Some(patch(
            json!([{"op": "replace", "path": "displayName", "value": "Patched"}]),
        )),
        _ => None,
    };
    let method = if method == "ANY" {
        Method::GET
    } else {
        method.parse().expect("method")
    };
    (method, path, body)
}

/// (method, path) of every `.route(...)` call in `src`, prefixed. A nested `/` is the prefix
/// itself (axum 0.8: `nest("/scim/v2", ...)` serves its `/` route at `/scim/v2`).
fn declared(src: &str, prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(") {
        let rest = &src[at + ".route(".len()..];
        let open = rest.find('"').expect("route path literal");
        let close = open + 1 + rest[open + 1..].find('"').expect("end of path literal");
        let path = match &rest[open + 1..close] {
            "/" if !prefix.is_empty() => "",
            p => p,
        };
        // The method router runs to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("end of .route(");
        let handlers = &rest[close + 1..end];
        for m in [
            "get", "post", "put", "patch", "delete", "head", "options", "trace", "any",
        ] {
            let called = handlers.match_indices(&format!("{m}(")).any(|(k, _)| {
                !handlers[..k].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                out.push((m.to_uppercase(), format!("{prefix}{path}")));
            }
        }
    }
    out
}

#[test]
fn the_route_table_lists_every_route_the_api_declares() {
    let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(api.join("routes")).expect("api/src/routes") {
        let path = entry.expect("dir entry").path();
        let src = std::fs::read_to_string(&path).expect("route source");
        found.extend(declared(&src, "/scim/v2"));
    }
    let startup = std::fs::read_to_string(api.join("startup.rs")).expect("startup.rs");
    assert!(
        startup.contains(".nest(\"/scim/v2\", scim)"),
        "the SCIM routes are no longer nested under /scim/v2: update this test"
    );
    found.extend(declared(&startup, ""));
    let listed: BTreeSet<(String, String)> = TENANT_ROUTES
        .iter()
        .chain(PUBLIC_ROUTES)
        .chain(STREAM_ROUTES)
        .chain(ASYNC_ROUTES)
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes the api declares but the tenancy tests do not cover: {missing:?}; \
         routes listed here that the api no longer declares: {stale:?}"
    );
}

#[test]
fn the_route_parser_reads_chained_and_multi_line_declarations() {
    let src = r#"Router::new().route("/A", get(list).post(create)).route(
        "/A/{id}",
        get(read).put(replace).patch(modify).delete(remove),
    ).route("/b", get(health::target))
        .route("/", get(root)).route("/c", any(c))"#;
    let got: BTreeSet<_> = declared(src, "/p").into_iter().collect();
    let want: BTreeSet<_> = [
        ("GET", "/p/A"),
        ("POST", "/p/A"),
        ("GET", "/p/A/{id}"),
        ("PUT", "/p/A/{id}"),
        ("PATCH", "/p/A/{id}"),
        ("DELETE", "/p/A/{id}"),
        ("GET", "/p/b"),
        ("GET", "/p"),
        ("ANY", "/p/c"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(got, want);
}
