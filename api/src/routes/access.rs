//! `/Roles` and `/Entitlements`: the roles and entitlements the tenant's admin defined (roles
//! named by its role mapping count as defined), read-only, in the shape Okta Identity
//! Governance discovers them: `/ResourceTypes` names each type with Okta's schema URN, each list
//! pages by `startIndex` and `count`, and a resource's `id` is the value users' `roles[].value`
//! or `entitlements[].value` carry. Other methods answer 405, as on every read-only endpoint.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use shared::domain::roles::Kind;
use shared::entity::scim_tenant_access::Model as Definition;

use super::scim_json;
use crate::access;
use crate::error::ScimError;
use crate::extract::{BaseUrl, ScimQuery, Tenant};
use crate::scim::Kind as ErrorKind;
use crate::scim::list::{ListParams, list_response, project};
use crate::state::AppState;

/// Okta Identity Governance's schema of a role resource.
pub const ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";
/// Okta Identity Governance's schema of an entitlement resource.
pub const ENTITLEMENT_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Roles", get(list_roles))
        .route("/Roles/{id}", get(read_role))
        .route("/Entitlements", get(list_entitlements))
        .route("/Entitlements/{id}", get(read_entitlement))
}

fn endpoint(kind: Kind) -> &'static str {
    match kind {
        Kind::Role => "Roles",
        Kind::Entitlement => "Entitlements",
    }
}

/// The resource type's name (`type` of an entitlement defaults to it, as Okta expects).
fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Role => "Role",
        Kind::Entitlement => "Entitlement",
    }
}

/// `id` percent-encoded for a URL path segment.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn render(kind: Kind, d: &Definition, base: &str) -> Value {
    let mut v = json!({
        "schemas": [match kind { Kind::Role => ROLE_SCHEMA, Kind::Entitlement => ENTITLEMENT_SCHEMA }],
        "id": d.value,
        "displayName": d.display.as_deref().unwrap_or(&d.value),
        "meta": {
            "resourceType": type_name(kind),
            "location": format!("{base}/{}/{}", endpoint(kind), segment(&d.value)),
        },
    });
    if kind == Kind::Entitlement {
        v["type"] = json!(d.r#type.as_deref().unwrap_or(type_name(kind)));
    }
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    v
}

async fn list(
    state: &AppState,
    tenant: uuid::Uuid,
    base: &str,
    query: &ScimQuery,
    kind: Kind,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query.0)?;
    if params.filter.is_some() || params.sort.is_some() || params.cursor.is_some() {
        return Err(ScimError::invalid(
            ErrorKind::InvalidValue,
            format!(
                "/{} pages by startIndex and count only: filter, sortBy and cursor are not supported here",
                endpoint(kind)
            ),
        ));
    }
    let all = access::definitions(&state.db, tenant, kind).await?;
    let page: Vec<Value> = all
        .iter()
        .skip(usize::try_from(params.start_index - 1).unwrap_or(usize::MAX))
        .take(usize::try_from(params.count).unwrap_or(0))
        .map(|d| {
            project(
                render(kind, d, base),
                &params.attributes,
                &params.excluded_attributes,
            )
        })
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(all.len() as i64, params.start_index, page),
        None,
        None,
    ))
}

async fn read(
    state: &AppState,
    tenant: uuid::Uuid,
    base: &str,
    id: &str,
    kind: Kind,
) -> Result<Response, ScimError> {
    access::definitions(&state.db, tenant, kind)
        .await?
        .iter()
        .find(|d| d.value == id)
        .map(|d| scim_json(StatusCode::OK, &render(kind, d, base), None, None))
        .ok_or_else(|| {
            ScimError::not_found(format!("no {} '{id}' is defined for this tenant", kind.as_str()))
        })
}

async fn list_roles(
    State(s): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    q: ScimQuery,
) -> Result<Response, ScimError> {
    list(&s, t.0, &base, &q, Kind::Role).await
}

async fn list_entitlements(
    State(s): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    q: ScimQuery,
) -> Result<Response, ScimError> {
    list(&s, t.0, &base, &q, Kind::Entitlement).await
}

async fn read_role(
    State(s): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    read(&s, t.0, &base, &id, Kind::Role).await
}

async fn read_entitlement(
    State(s): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    read(&s, t.0, &base, &id, Kind::Entitlement).await
}

/// `/ResourceTypes` entries of the two.
pub fn resource_types(base: &str) -> [Value; 2] {
    [Kind::Role, Kind::Entitlement].map(|kind| {
        let name = type_name(kind);
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": format!("/{}", endpoint(kind)),
            "description": match kind {
                Kind::Role => "Roles the tenant defines (read-only)",
                Kind::Entitlement => "Entitlements the tenant defines (read-only)",
            },
            "schema": match kind { Kind::Role => ROLE_SCHEMA, Kind::Entitlement => ENTITLEMENT_SCHEMA },
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")}
        })
    })
}

/// `/Schemas` documents of the two (Okta knows them; other clients may not).
pub fn schemas(base: &str) -> [Value; 2] {
    let attr = |name: &str, required: bool, description: &str| {
        json!({
            "name": name, "type": "string", "multiValued": false, "description": description,
            "required": required, "caseExact": false, "mutability": "readOnly", "returned": "default",
            "uniqueness": "none",
        })
    };
    let doc = |urn: &str, name: &str, description: &str, attributes: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": urn,
            "name": name,
            "description": description,
            "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{urn}")}
        })
    };
    [
        doc(
            ROLE_SCHEMA,
            "Role",
            "A role users can hold (roles[].value names its id)",
            vec![
                attr("displayName", true, "The role's name as administrators see it."),
                attr("description", false, "What the role is for."),
            ],
        ),
        doc(
            ENTITLEMENT_SCHEMA,
            "Entitlement",
            "An entitlement users can hold (entitlements[].value names its id)",
            vec![
                attr(
                    "displayName",
                    true,
                    "The entitlement's name as administrators see it.",
                ),
                attr(
                    "type",
                    true,
                    "The kind of entitlement, by default its resource type's name.",
                ),
                attr("description", false, "What the entitlement grants."),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_in_locations() {
        assert_eq!(segment("role-1"), "role-1");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn an_entitlement_without_a_type_is_of_its_resource_type() {
        let d = Definition {
            tenant_id: uuid::Uuid::nil(),
            kind: "entitlement".into(),
            value: "lic-1".into(),
            display: Some("License 1".into()),
            r#type: None,
            description: None,
        };
        let v = render(Kind::Entitlement, &d, "https://x/scim/v2");
        assert_eq!(v["type"], "Entitlement");
        assert_eq!(v["displayName"], "License 1");
        assert_eq!(v["schemas"][0], ENTITLEMENT_SCHEMA);
        assert!(v.get("description").is_none());
    }
}
