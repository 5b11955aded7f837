//! Discovery endpoints (RFC 7644 §4): what this server supports, stated truthfully, and the
//! schemas generated from the same definitions that drive validation.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::scim_json;
use crate::error::ScimError;
use crate::extract::{BaseUrl, Tenant};
use crate::scim::list::{DEFAULT_COUNT, MAX_COUNT, list_response};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::scim::schema_doc;
use crate::state::AppState;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(schema))
}

/// What this server does, and only that: `filter.maxResults` is the page size `count` is
/// clamped to; paging is by index unless the request sends a `cursor` (RFC 9865's `pagination`:
/// both methods, the same page sizes, cursors valid for `cursorTimeout` seconds between
/// pages); `/Bulk` answers 501; passwords are never stored, so they cannot be changed; the
/// change events a tenant's streams can carry (docs/events.md).
async fn service_provider_config(
    State(state): State<AppState>,
    _t: Tenant,
    BaseUrl(base): BaseUrl,
) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scim-relay/scim-relay#readme",
        "patch": {"supported": true},
        // Bulk is not supported, but authentik chunks its membership PATCHes by
        // `bulk.maxOperations` whatever `supported` says, and sends all of them in one request
        // when it is 0 (providers/scim/clients/groups.py, `_patch_chunked`): a group of more
        // than MAX_OPERATIONS members would then be refused whole. So the PATCH limits stand here.
        "bulk": {
            "supported": false,
            "maxOperations": crate::scim::patch::MAX_OPERATIONS,
            "maxPayloadSize": state.limits.max_body_bytes,
        },
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_COUNT,
            "maxPageSize": MAX_COUNT,
            "cursorTimeout": state.limits.cursor_timeout.as_secs(),
        },
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        // RFC 9967 §4: writes answer 202 when the client sends `Prefer: respond-async`.
        "securityEvents": {"asyncRequest": "request", "eventUris": event_uris()},
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

/// The events this server can deliver: what streams carry, and the completions of asynchronous
/// requests.
fn event_uris() -> Vec<&'static str> {
    let mut uris = shared::events::set::URIS.to_vec();
    uris.push(shared::events::completions::ASYNC_RESPONSE);
    uris
}

/// The tenant's own schema extensions, as `/Schemas` serves them under `base`.
async fn tenant_schemas(state: &AppState, tenant: Uuid, base: &str) -> Result<Vec<Value>, ScimError> {
    Ok(crate::tenant_schemas::list(&state.db, tenant)
        .await?
        .into_iter()
        .map(|row| {
            let mut doc = row.document;
            doc["meta"] =
                json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{}", row.urn)});
            doc
        })
        .collect())
}

/// Every schema the tenant's resources have: the standard ones and the tenant's own.
async fn all_schemas(state: &AppState, tenant: Uuid, base: &str) -> Result<Vec<Value>, ScimError> {
    let mut all = schema_doc::all(base);
    all.extend(super::access::schemas(base));
    all.extend(tenant_schemas(state, tenant, base).await?);
    Ok(all)
}

fn user_resource_type(base: &str, own: &[Value]) -> Value {
    let mut extensions = vec![json!({"schema": ENTERPRISE_USER_SCHEMA, "required": false})];
    extensions.extend(own.iter().map(|d| json!({"schema": d["id"], "required": false})));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": extensions,
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

async fn resource_types(
    State(state): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    let own = tenant_schemas(&state, t.0, &base).await?;
    let mut all = vec![user_resource_type(&base, &own), group_resource_type(&base)];
    all.extend(super::access::resource_types(&base));
    Ok(scim_json(
        StatusCode::OK,
        &list_response(all.len() as i64, 1, all),
        None,
        None,
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
) -> Result<Response, ScimError> {
    if name.eq_ignore_ascii_case("User") {
        let own = tenant_schemas(&state, t.0, &base).await?;
        Ok(scim_json(
            StatusCode::OK,
            &user_resource_type(&base, &own),
            None,
            None,
        ))
    } else if name.eq_ignore_ascii_case("Group") {
        Ok(scim_json(StatusCode::OK, &group_resource_type(&base), None, None))
    } else if let Some(t) = super::access::resource_types(&base)
        .into_iter()
        .find(|t| t["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&name)))
    {
        Ok(scim_json(StatusCode::OK, &t, None, None))
    } else {
        Err(ScimError::not_found(format!("no resource type '{name}'")))
    }
}

async fn schemas(
    State(state): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    let all = all_schemas(&state, t.0, &base).await?;
    Ok(scim_json(
        StatusCode::OK,
        &list_response(all.len() as i64, 1, all),
        None,
        None,
    ))
}

async fn schema(
    State(state): State<AppState>,
    t: Tenant,
    BaseUrl(base): BaseUrl,
    Path(urn): Path<String>,
) -> Result<Response, ScimError> {
    all_schemas(&state, t.0, &base)
        .await?
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&urn)))
        .map(|s| scim_json(StatusCode::OK, &s, None, None))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{urn}'")))
}
