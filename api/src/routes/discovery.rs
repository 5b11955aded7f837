//! Discovery endpoints (RFC 7644 §4): what this server supports, stated truthfully, and the
//! schemas generated from the same definitions that drive validation.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::scim_json;
use crate::error::ScimError;
use crate::extract::{BaseUrl, Tenant};
use crate::scim::list::{MAX_COUNT, list_response};
use crate::scim::schema::{
    Attr, COMMON, ENTERPRISE_USER, ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, Mutability, Type, USER,
    USER_SCHEMA,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(schema))
}

async fn service_provider_config(_t: Tenant, BaseUrl(base): BaseUrl) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scim-relay/scim-relay#readme",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A per-tenant API token, sent as 'Authorization: Bearer <token>'.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    });
    scim_json(StatusCode::OK, &body, None, None)
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
    })
}

fn group_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
    })
}

async fn resource_types(_t: Tenant, BaseUrl(base): BaseUrl) -> Response {
    let all = vec![user_resource_type(&base), group_resource_type(&base)];
    scim_json(
        StatusCode::OK,
        &list_response(all.len() as i64, 1, all),
        None,
        None,
    )
}

async fn resource_type(
    _t: Tenant,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
) -> Result<Response, ScimError> {
    if name.eq_ignore_ascii_case("User") {
        Ok(scim_json(StatusCode::OK, &user_resource_type(&base), None, None))
    } else if name.eq_ignore_ascii_case("Group") {
        Ok(scim_json(StatusCode::OK, &group_resource_type(&base), None, None))
    } else {
        Err(ScimError::not_found(format!("no resource type '{name}'")))
    }
}

fn attribute(a: &Attr) -> Value {
    let ty = match a.ty {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::DateTime => "dateTime",
        Type::Reference => "reference",
        Type::Complex => "complex",
        Type::Binary => "binary",
    };
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::WriteOnly => "writeOnly",
    };
    let returned = match (a.mutability, a.name) {
        (Mutability::WriteOnly, _) => "never",
        (_, "id") => "always",
        _ => "default",
    };
    // A User's userName and a Group's displayName (the required one; a User's displayName is
    // optional and not unique) are unique per tenant, case-insensitively.
    let unique_name = a.required && matches!(a.name, "userName" | "displayName");
    let uniqueness = if unique_name || a.name == "id" {
        "server"
    } else {
        "none"
    };
    let mut v = json!({
        "name": a.name,
        "type": ty,
        "multiValued": a.multi,
        "description": "",
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    });
    if a.ty == Type::Complex {
        v["subAttributes"] = a.sub.iter().map(attribute).collect();
    }
    if a.ty == Type::Reference {
        v["referenceTypes"] = json!(["external"]);
    }
    v
}

fn schema_doc(urn: &str, name: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": name,
        "description": format!("{name} schema"),
        "attributes": attrs.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{urn}")}
    })
}

/// A core schema: its own attributes plus `externalId` (the other common attributes are
/// described by RFC 7643 §3.1 and not listed, as usual).
fn core_schema_doc(urn: &str, name: &str, attrs: &[Attr], base: &str) -> Value {
    let mut doc = schema_doc(urn, name, attrs, base);
    doc["attributes"] = attrs
        .iter()
        .chain(COMMON.iter().filter(|a| a.name == "externalId"))
        .map(attribute)
        .collect();
    doc
}

fn all_schemas(base: &str) -> Vec<Value> {
    vec![
        core_schema_doc(USER_SCHEMA, "User", USER, base),
        schema_doc(ENTERPRISE_USER_SCHEMA, "EnterpriseUser", ENTERPRISE_USER, base),
        core_schema_doc(GROUP_SCHEMA, "Group", GROUP, base),
    ]
}

async fn schemas(_t: Tenant, BaseUrl(base): BaseUrl) -> Response {
    let all = all_schemas(&base);
    scim_json(
        StatusCode::OK,
        &list_response(all.len() as i64, 1, all),
        None,
        None,
    )
}

async fn schema(_t: Tenant, BaseUrl(base): BaseUrl, Path(urn): Path<String>) -> Result<Response, ScimError> {
    all_schemas(&base)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&urn)))
        .map(|s| scim_json(StatusCode::OK, &s, None, None))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{urn}'")))
}
