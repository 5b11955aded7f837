//! Discovery (RFC 7644 §4; RFC 7643 §5, §6, §7, §8.7) and the endpoints this server does not
//! offer (RFC 7644 §3.7, §3.11).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, World, assert_error};

/// Every attribute definition of a schema, sub-attributes included, by dotted path.
fn attributes(schema: &Value) -> Vec<(String, Value)> {
    fn walk(attrs: &Value, parent: &str, out: &mut Vec<(String, Value)>) {
        for a in attrs.as_array().expect("attributes") {
            let path = format!("{parent}{}", a["name"].as_str().expect("name"));
            if let Some(subs) = a.get("subAttributes") {
                walk(subs, &format!("{path}."), out);
            }
            out.push((path, a.clone()));
        }
    }
    let mut out = Vec::new();
    walk(&schema["attributes"], "", &mut out);
    out
}

fn attribute(schema: &Value, path: &str) -> Value {
    attributes(schema)
        .into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{} has no {path}", schema["id"]))
        .1
}

// RFC 7643 §5: the ServiceProviderConfig states what the server does: patch, filter (with
// maxResults = the enforced page size), sort and etag yes; bulk and changePassword no.
#[tokio::test]
async fn the_service_provider_config_is_truthful() {
    let w = World::without_worker().await;
    let r = w.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = &r.body;
    assert_eq!(
        c["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(
        c["bulk"],
        json!({"supported": false, "maxOperations": 1000, "maxPayloadSize": 1024 * 1024})
    );
    assert_eq!(c["filter"]["supported"], true);
    assert_eq!(c["changePassword"]["supported"], false);
    assert_eq!(c["sort"]["supported"], true);
    assert_eq!(c["etag"]["supported"], true);
    // RFC 9967 §4: the events streams carry, and asynchronous requests when asked for.
    assert_eq!(c["securityEvents"]["asyncRequest"], "request");
    let uris = c["securityEvents"]["eventUris"].as_array().unwrap();
    assert!(uris.contains(&json!("urn:ietf:params:scim:event:prov:deactivate")));
    assert!(uris.contains(&json!("urn:ietf:params:scim:event:misc:asyncresp")));
    // RFC 9967's, and the deprovisioning guard's own (docs/deprovisioning.md).
    assert!(uris.contains(&json!("urn:scim-relay:params:event:deprovisioning:held")));
    assert!(uris.iter().all(|u| {
        let u = u.as_str().unwrap();
        u.starts_with("urn:ietf:params:scim:event:prov:")
            || u == "urn:ietf:params:scim:event:misc:asyncresp"
            || u.starts_with("urn:scim-relay:params:event:deprovisioning:")
    }));
    let schemes = c["authenticationSchemes"].as_array().unwrap();
    assert!(
        schemes.iter().any(|s| s["type"] == "oauthbearertoken"
            && s["name"].is_string()
            && s["description"].is_string()),
        "{schemes:?}"
    );
    // maxResults is what count is clamped to: paging.rs checks it against more users than that.
    assert!(c["filter"]["maxResults"].as_i64().is_some_and(|m| m > 0));
}

// RFC 7643 §7 and §8.7.1: /Schemas lists User, EnterpriseUser and Group with complete
// attribute definitions, and /Schemas/{id} serves each.
#[tokio::test]
async fn schemas_define_every_attribute_completely() {
    let w = World::without_worker().await;
    let r = w.get("/Schemas").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5);
    let schemas = r.body["Resources"].as_array().unwrap().clone();
    let ids: Vec<&str> = schemas.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            USER_SCHEMA,
            ENTERPRISE,
            GROUP_SCHEMA,
            "urn:okta:scim:schemas:core:1.0:Role",
            "urn:okta:scim:schemas:core:1.0:Entitlement"
        ]
    );
    for s in &schemas {
        let id = s["id"].as_str().unwrap();
        assert_eq!(
            s["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"])
        );
        assert!(s["name"].is_string() && s["description"].is_string());
        assert_eq!(s["meta"]["resourceType"], "Schema");
        for (path, a) in attributes(s) {
            for (key, is_type) in [
                ("name", Value::is_string as fn(&Value) -> bool),
                ("type", Value::is_string),
                ("multiValued", Value::is_boolean),
                ("description", Value::is_string),
                ("required", Value::is_boolean),
                ("caseExact", Value::is_boolean),
                ("mutability", Value::is_string),
                ("returned", Value::is_string),
                ("uniqueness", Value::is_string),
            ] {
                assert!(is_type(&a[key]), "{id} {path}: {key} in {a}");
            }
            assert_ne!(a["description"], "", "{id} {path}");
            assert!(
                ["readOnly", "readWrite", "immutable", "writeOnly"]
                    .contains(&a["mutability"].as_str().unwrap()),
                "{id} {path}"
            );
            assert!(
                ["always", "never", "default", "request"].contains(&a["returned"].as_str().unwrap()),
                "{id} {path}"
            );
            assert!(
                ["none", "server", "global"].contains(&a["uniqueness"].as_str().unwrap()),
                "{id} {path}"
            );
            match a["type"].as_str().unwrap() {
                "complex" => assert!(
                    a["subAttributes"].as_array().is_some_and(|s| !s.is_empty()),
                    "{id} {path}"
                ),
                "reference" => assert!(
                    a["referenceTypes"].as_array().is_some_and(|s| !s.is_empty()),
                    "{id} {path}"
                ),
                t => assert!(
                    ["string", "boolean", "dateTime", "binary", "decimal", "integer"].contains(&t),
                    "{id} {path}: {t}"
                ),
            }
        }
        let one = w.get(&format!("/Schemas/{id}")).await;
        assert_eq!(one.status, StatusCode::OK, "{id}");
        assert_eq!(&one.body, s, "/Schemas/{id} is the listed document");
    }
    let (user, group) = (&schemas[0], &schemas[2]);
    let user_name = attribute(user, "userName");
    assert_eq!(
        (
            &user_name["required"],
            &user_name["uniqueness"],
            &user_name["caseExact"]
        ),
        (&json!(true), &json!("server"), &json!(false))
    );
    let password = attribute(user, "password");
    assert_eq!(
        (&password["mutability"], &password["returned"]),
        (&json!("writeOnly"), &json!("never"))
    );
    assert_eq!(attribute(user, "groups")["mutability"], "readOnly");
    assert_eq!(attribute(user, "emails")["multiValued"], true);
    assert_eq!(
        attribute(user, "emails.type")["canonicalValues"],
        json!(["work", "home", "other"])
    );
    assert_eq!(
        attribute(user, "profileUrl")["referenceTypes"],
        json!(["external"])
    );
    assert_eq!(attribute(user, "groups.$ref")["referenceTypes"], json!(["Group"]));
    assert_eq!(
        attribute(&schemas[1], "manager.$ref")["referenceTypes"],
        json!(["User"])
    );
    assert_eq!(
        attribute(group, "members.$ref")["referenceTypes"],
        json!(["User", "Group"])
    );
    assert_eq!(
        attribute(group, "members.type")["canonicalValues"],
        json!(["User", "Group"])
    );
    assert_eq!(attribute(group, "displayName")["required"], true);

    let r = w
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nothing")
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
}

// RFC 7643 §6: /ResourceTypes names each type's endpoint, schema and extensions.
#[tokio::test]
async fn resource_types_name_their_endpoint_schema_and_extensions() {
    let w = World::without_worker().await;
    let r = w.get("/ResourceTypes").await;
    // User, Group, and the read-only Role and Entitlement (tests/groups/roles.rs).
    assert_eq!(r.body["totalResults"], 4);
    let user = w.get("/ResourceTypes/User").await;
    assert_eq!(user.status, StatusCode::OK);
    assert_eq!(user.body["endpoint"], "/Users");
    assert_eq!(user.body["schema"], USER_SCHEMA);
    assert_eq!(
        user.body["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}])
    );
    assert_eq!(r.body["Resources"][0], user.body);
    let group = w.get("/ResourceTypes/Group").await;
    assert_eq!(group.body["endpoint"], "/Groups");
    assert_eq!(group.body["schema"], GROUP_SCHEMA);
    assert_error(&w.get("/ResourceTypes/Device").await, StatusCode::NOT_FOUND, None);
}

// RFC 7644 §4: discovery MAY require authentication; here it does, like everything else.
#[tokio::test]
async fn discovery_needs_a_token() {
    let w = World::without_worker().await;
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        let r = w
            .env
            .request(&w.api, Method::GET, &format!("/scim/v2{path}"), None, None)
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, None);
    }
}

// RFC 7644 §3.7 and §3.12: bulk is not supported (ServiceProviderConfig says so), and a bulk
// request is answered 501 Not Implemented with a SCIM error; §3.11: so is /Me.
#[tokio::test]
async fn bulk_and_me_answer_501_not_implemented() {
    let w = World::without_worker().await;
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "1",
                        "data": {"schemas": [USER_SCHEMA], "userName": "bulk@acme.test"}}]
    });
    let r = w.call(Method::POST, "/Bulk", Some(bulk.clone())).await;
    assert_error(&r, StatusCode::NOT_IMPLEMENTED, None);
    assert!(r.body["detail"].as_str().unwrap().contains("bulk"));
    let r = w.get("/Users?count=0").await;
    assert_eq!(
        r.body["totalResults"], 0,
        "nothing of the bulk request was applied"
    );
    let r = w.get("/Me").await;
    assert_error(&r, StatusCode::NOT_IMPLEMENTED, None);
    let r = w
        .env
        .request(&w.api, Method::POST, "/scim/v2/Bulk", None, Some(bulk))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);
}
