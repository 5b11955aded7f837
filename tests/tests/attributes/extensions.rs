//! A tenant's own schema extension: defined, discovered, and its values carried in the forms Okta
//! and Entra ID send them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{World, okta_user, urlencode};
use uuid::Uuid;

use crate::{admin, world};

pub const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

pub fn definition() -> Value {
    json!({
        "name": "Acme",
        "description": "What Acme keeps about its people",
        "attributes": [
            {"name": "location", "type": "string"},
            {"name": "badge", "type": "integer"},
            {"name": "hired", "type": "dateTime", "mutability": "immutable"},
            {"name": "clearance", "type": "string", "returned": "request"},
            {"name": "skills", "type": "string", "multiValued": true},
            {"name": "desk", "type": "complex", "subAttributes": [
                {"name": "building", "type": "string"},
                {"name": "floor", "type": "integer", "required": true}
            ]}
        ]
    })
}

pub async fn define(w: &World, tenant: Uuid) -> (StatusCode, Value) {
    admin(
        w,
        Method::PUT,
        &format!("/admin/api/tenants/{tenant}/schemas/{ACME}"),
        Some(definition()),
    )
    .await
}

pub fn acme_user(user_name: &str, ext: Value) -> Value {
    let mut body = okta_user(user_name, "Ada", "Lovelace");
    body["schemas"] = json!([CORE, ACME]);
    body[ACME] = ext;
    body
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[tokio::test]
async fn a_tenants_extension_is_defined_discovered_and_carried_in_okta_and_entra_forms() {
    let w = world().await;
    let (status, v) = define(&w, w.tenant).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let doc = &v["document"];
    assert_eq!(doc["id"], ACME);
    assert_eq!(
        doc["attributes"][0]["mutability"], "readWrite",
        "completed with defaults"
    );
    assert_eq!(doc["attributes"][5]["subAttributes"][1]["required"], true);
    let (status, _) = define(&w, w.tenant).await;
    assert_eq!(status, StatusCode::OK, "a second PUT redefines");

    // Discovery shows it to this tenant.
    let schemas = w.get("/Schemas").await.body;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&ACME), "{ids:?}");
    let one = w.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["attributes"][1]["type"], "integer");
    assert!(one.body["meta"]["location"].as_str().unwrap().ends_with(ACME));
    let user_type = w.get("/ResourceTypes/User").await.body;
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .unwrap()
            .contains(&json!({"schema": ACME, "required": false})),
        "{user_type}"
    );

    // Change events carry the extension: whole in full SETs, by path in notice SETs.
    let full = crate::poll_stream(&w, "full").await;
    let notice = crate::poll_stream(&w, "notice").await;

    // Okta: the extension object under its URN.
    let r = w
        .post_user(acme_user(
            "ada@acme.test",
            json!({"location": "Berlin", "badge": 1000, "hired": "2020-01-02T03:04:05Z",
                   "clearance": "secret", "skills": ["rust", "sql"],
                   "desk": {"building": "B1", "floor": 3}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ada = r.id();
    let ext = &r.body[ACME];
    assert_eq!(ext["location"], "Berlin");
    assert_eq!(ext["badge"], 1000);
    assert_eq!(ext["skills"], json!(["rust", "sql"]));
    assert_eq!(ext["desk"], json!({"building": "B1", "floor": 3}));
    assert!(ext.get("clearance").is_none(), "returned only on request: {ext}");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ACME)));
    let asked = w
        .get(&format!(
            "/Users/{ada}?attributes={}",
            urlencode(&format!("{ACME}:clearance"))
        ))
        .await;
    assert_eq!(asked.body[ACME]["clearance"], "secret", "{}", asked.body);

    let alan = w
        .post_user(acme_user(
            "alan@acme.test",
            json!({"location": "Bletchley", "badge": 99}),
        ))
        .await
        .id();

    // Values are checked against the definition, and the error names the path.
    for (ext, path) in [
        (json!({"badge": "abc"}), format!("{ACME}.badge")),
        (json!({"desk": {"building": "B2"}}), format!("{ACME}:desk.floor")),
    ] {
        let r = w.post_user(acme_user("bad@acme.test", ext.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ext}: {}", r.body);
        assert_eq!(r.body["scimType"], "invalidValue");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&path) || detail.contains(&path.replace('.', ":")),
            "{detail} should name {path}"
        );
    }

    // Filtered and sorted in SQL: numbers as numbers (99 < 1000, which as text it is not).
    let f = |s: &str| format!("filter={}", urlencode(s));
    assert_eq!(
        w.user_ids(&f(&format!("{ACME}:location eq \"berlin\""))).await,
        [ada]
    );
    assert_eq!(w.user_ids(&f(&format!("{ACME}:badge gt 100"))).await, [ada]);
    assert_eq!(w.user_ids(&f(&format!("{ACME}:skills eq \"SQL\""))).await, [ada]);
    assert_eq!(w.user_ids(&f(&format!("{ACME}:desk.floor ge 3"))).await, [ada]);
    assert_eq!(
        w.user_ids(&format!(
            "{}&sortBy={}",
            f(&format!("{ACME}:badge pr")),
            urlencode(&format!("{ACME}:badge"))
        ))
        .await,
        [alan, ada]
    );

    // Okta's PATCH: a URN path, and a no-path value object keyed by the URN.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(json!([
                {"op": "replace", "path": format!("{ACME}:location"), "value": "Paris"},
                {"op": "replace", "value": {ACME: {"badge": 1001}}},
            ]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body[ACME]["location"], "Paris");
    assert_eq!(r.body[ACME]["badge"], 1001);
    let mut created = None;
    let mut patched = None;
    for _ in 0..100 {
        let got = crate::sets(&w, &full).await;
        created = created.or(got
            .iter()
            .find(|c| {
                c["sub_id"]["uri"] == json!(format!("/Users/{ada}"))
                    && c["events"]["urn:ietf:params:scim:event:prov:create:full"].is_object()
            })
            .cloned());
        let got = crate::sets(&w, &notice).await;
        patched = patched.or(got
            .iter()
            .find(|c| c["events"]["urn:ietf:params:scim:event:prov:patch:notice"].is_object())
            .cloned());
        if created.is_some() && patched.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let data =
        &created.expect("the create's SET")["events"]["urn:ietf:params:scim:event:prov:create:full"]["data"];
    assert_eq!(data[ACME]["location"], "Berlin", "{data}");
    assert!(
        data[ACME].get("clearance").is_none(),
        "returned only on request: {data}"
    );
    let changed = &patched.expect("the patch's SET")["events"]["urn:ietf:params:scim:event:prov:patch:notice"]
        ["attributes"];
    assert!(
        changed
            .as_array()
            .unwrap()
            .contains(&json!(format!("{ACME}:location"))),
        "{changed}"
    );
    assert!(
        changed
            .as_array()
            .unwrap()
            .contains(&json!(format!("{ACME}:badge"))),
        "{changed}"
    );

    // Entra ID's: `Add` with a URN path and values as strings.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(json!([
                {"op": "Add", "path": format!("{ACME}:location"), "value": "Lisbon"},
                {"op": "Replace", "path": format!("{ACME}:badge"), "value": "42"},
            ]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body[ACME]["location"], "Lisbon");
    assert_eq!(
        r.body[ACME]["badge"], 42,
        "a number sent as a string is stored as the number"
    );
    // An immutable attribute keeps its first value.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(json!([
                {"op": "replace", "path": format!("{ACME}:hired"), "value": "2021-01-01T00:00:00Z"},
            ]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "mutability");

    // A redefinition that the stored values do not fit is refused, naming the value.
    let mut clash = definition();
    clash["attributes"][0]["type"] = json!("integer");
    let (status, v) = admin(
        &w,
        Method::PUT,
        &format!("/admin/api/tenants/{}/schemas/{ACME}", w.tenant),
        Some(clash),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("location"), "{v}");
    let kept = w.get(&format!("/Schemas/{ACME}")).await.body;
    assert_eq!(kept["attributes"][0]["type"], "string", "nothing changed");

    // Another tenant never sees it: not in its discovery, not kept from its requests, not
    // filterable there.
    let (other, other_token) = w.other_tenant("Globex");
    let theirs = w
        .call_as(&other_token, Method::GET, &format!("/Schemas/{ACME}"), None)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let r = w
        .call_as(
            &other_token,
            Method::POST,
            "/Users",
            Some(acme_user("eve@globex.test", json!({"location": "Nowhere"}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get(ACME).is_none(), "{}", r.body);
    let r = w
        .call_as(
            &other_token,
            Method::GET,
            &format!("/Users?{}", f(&format!("{ACME}:location eq \"Nowhere\""))),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let (status, list) = admin(
        &w,
        Method::GET,
        &format!("/admin/api/tenants/{other}/schemas"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["schemas"], json!([]));

    // A definition that holds values is deleted only when forced; its values then stay unseen.
    let path = format!("/admin/api/tenants/{}/schemas/{ACME}", w.tenant);
    let (status, v) = admin(&w, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("force=true"), "{v}");
    let (status, _) = admin(&w, Method::DELETE, &format!("{path}?force=true"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let now = w.get(&format!("/Users/{ada}")).await.body;
    assert!(now.get(ACME).is_none(), "{now}");
    assert!(!now["schemas"].as_array().unwrap().contains(&json!(ACME)));
    assert_eq!(
        w.get(&format!("/Schemas/{ACME}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn definitions_that_are_not_valid_schemas_are_refused_and_change_nothing() {
    let w = world().await;
    let put = |urn: &str, body: Value| {
        let path = format!("/admin/api/tenants/{}/schemas/{urn}", w.tenant);
        let w = &w;
        async move { admin(w, Method::PUT, &path, Some(body)).await }
    };
    for (urn, body, says) in [
        (
            ACME,
            json!({"attributes": [{"name": "x", "type": "float"}]}),
            "'type' must be",
        ),
        (ACME, json!({"attributes": "location"}), "'attributes' must be"),
        (
            ACME,
            json!({"attributes": [{"name": "pin", "type": "string", "mutability": "writeOnly"}]}),
            "secret",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            json!({"attributes": [{"name": "x", "type": "string"}]}),
            "schema of SCIM itself",
        ),
        (ACME, json!([1, 2]), "JSON object"),
    ] {
        let (status, v) = put(urn, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    let (status, v) = admin(
        &w,
        Method::GET,
        &format!("/admin/api/tenants/{}/schemas", w.tenant),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["schemas"], json!([]));
    let (status, _) = admin(
        &w,
        Method::PUT,
        &format!("/admin/api/tenants/{}/schemas/{ACME}", Uuid::now_v7()),
        Some(definition()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
