//! `/admin/api`: the admin page's actions as JSON, for scripts. Authenticate with
//! `Authorization: Bearer <ADMIN_TOKEN>` (or a page session plus `X-CSRF-Token`). Each route is
//! registered from its handler's `#[utoipa::path]`, so the OpenAPI document served at
//! `/admin/api/openapi.json` (see `openapi`) lists exactly the routes served.

pub mod deprovisioning_guard;
pub mod event_streams;
pub mod mapping;
mod openapi;
pub mod roles;
pub mod schema;
pub mod tenant_schemas;

use std::sync::LazyLock;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use schema::{
    ActivityList, ActivityQuery, BrokerFigures, CreatedTenant, DeadLetters, NewTenant, NewToken, Replayed,
    Revoked, Sync, TenantDetail, TenantList,
};

use super::error::{AdminError, ErrorBody};
use super::{Admin, ScimBaseUrl, sync, tenants};
use crate::activity as audit;
use crate::tokens;

const DEFAULT_ACTIVITY: u64 = 50;
const MAX_ACTIVITY: u64 = 500;

/// The `/admin/api` routes (the caller puts the admin guard in front).
pub fn router() -> Router<Admin> {
    documented().into()
}

/// Each route together with its documentation.
fn documented() -> OpenApiRouter<Admin> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(tenant))
        .routes(routes!(rotate_token, revoke_token))
        .routes(routes!(activity))
        .routes(routes!(sync))
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
        .routes(routes!(
            event_streams::create_event_stream,
            event_streams::list_event_streams
        ))
        .routes(routes!(event_streams::delete_event_stream))
        .routes(routes!(event_streams::replay_event_stream))
        .routes(routes!(mapping::put_mapping, mapping::get_mapping))
        .routes(routes!(roles::put_role_mapping, roles::get_role_mapping))
        .routes(routes!(roles::put_roles, roles::get_roles))
        .routes(routes!(roles::put_entitlements, roles::get_entitlements))
        .routes(routes!(
            deprovisioning_guard::get_deprovisioning_guard,
            deprovisioning_guard::put_deprovisioning_guard
        ))
        .routes(routes!(deprovisioning_guard::approve_deprovisioning))
        .routes(routes!(deprovisioning_guard::reject_deprovisioning))
        .routes(routes!(tenant_schemas::list_schema_extensions))
        .routes(routes!(
            tenant_schemas::put_schema_extension,
            tenant_schemas::get_schema_extension,
            tenant_schemas::delete_schema_extension
        ))
}

/// Their OpenAPI document.
fn document() -> OpenApi {
    let mut doc = documented().into_openapi();
    openapi::add_guard_responses(&mut doc);
    doc
}

/// Serves the document, built once.
pub async fn openapi() -> Json<&'static OpenApi> {
    static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(document);
    Json(&DOCUMENT)
}

/// List tenants (newest first, at most 500).
#[utoipa::path(
    get,
    path = "/admin/api/tenants",
    operation_id = "listTenants",
    responses((status = 200, description = "The tenants.", body = TenantList)),
)]
async fn list_tenants(State(admin): State<Admin>) -> Result<Json<TenantList>, AdminError> {
    let list = tenants::list(&admin.app.db).await?;
    Ok(Json(TenantList {
        tenants: list.into_iter().map(Into::into).collect(),
    }))
}

/// Create a tenant and its first SCIM token.
///
/// Like `scim-api tenant create`.
#[utoipa::path(
    post,
    path = "/admin/api/tenants",
    operation_id = "createTenant",
    request_body = NewTenant,
    responses(
        (
            status = 201,
            description = "Created. The token is shown in this response only.",
            body = CreatedTenant,
            headers(("Location" = String, description = "The tenant in this API.")),
        ),
        (status = 400, description = "The name is empty or the body is not JSON.", body = ErrorBody),
    ),
)]
async fn create_tenant(
    State(admin): State<Admin>,
    ScimBaseUrl(base): ScimBaseUrl,
    body: Result<Json<NewTenant>, JsonRejection>,
) -> Result<impl IntoResponse, AdminError> {
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let issued = tokens::create_tenant(&admin.app.db, &body.name).await?;
    tracing::info!(tenant_id = %issued.tenant_id, "tenant created through the admin api");
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/admin/api/tenants/{}", issued.tenant_id),
        )],
        Json(CreatedTenant {
            tenant_id: issued.tenant_id,
            name: body.name.trim().to_owned(),
            token: issued.token,
            scim_base_url: base,
        }),
    ))
}

/// A tenant, its token status, counts and SCIM base URL.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}",
    operation_id = "getTenant",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The tenant.", body = TenantDetail),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn tenant(
    State(admin): State<Admin>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
) -> Result<Json<TenantDetail>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let tenant = tenants::get(&admin.app.db, id).await?;
    let counts = tenants::counts(&admin.app.db, id).await?;
    Ok(Json(TenantDetail {
        tenant: tenant.into(),
        scim_base_url: base,
        counts: counts.into(),
    }))
}

/// Generate a new SCIM token; the old one stops working at once.
///
/// Like `scim-api token rotate`.
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/token",
    operation_id = "rotateToken",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The new token, shown in this response only.", body = NewToken),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn rotate_token(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<NewToken>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let issued = tokens::rotate(&admin.app.db, id).await?;
    admin.app.auth_cache.invalidate();
    tracing::info!(tenant_id = %id, "tenant token generated through the admin api");
    Ok(Json(issued.into()))
}

/// Revoke every SCIM token of the tenant.
///
/// Like `scim-api token revoke`.
#[utoipa::path(
    delete,
    path = "/admin/api/tenants/{id}/token",
    operation_id = "revokeToken",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "How many live tokens were revoked.", body = Revoked),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn revoke_token(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let revoked = tokens::revoke(&admin.app.db, id).await?;
    admin.app.auth_cache.invalidate();
    tracing::info!(tenant_id = %id, revoked, "tenant token revoked through the admin api");
    Ok(Json(Revoked {
        tenant_id: id,
        revoked,
    }))
}

/// Recent SCIM requests of the tenant, newest first.
///
/// From the best-effort activity log (`scim.audit`): requests authenticated by the tenant's
/// token. Kept `AUDIT_RETENTION_DAYS` days.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/activity",
    operation_id = "listActivity",
    params(("id" = uuid::Uuid, Path, description = "Tenant id."), ActivityQuery),
    responses(
        (status = 200, description = "The activity rows.", body = ActivityList),
        (status = 400, description = "Malformed query.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn activity(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    query: Result<Query<ActivityQuery>, QueryRejection>,
) -> Result<Json<ActivityList>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let Query(q) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    tenants::get(&admin.app.db, id).await?;
    let limit = q.limit.unwrap_or(DEFAULT_ACTIVITY).clamp(1, MAX_ACTIVITY);
    let rows = audit::recent(&admin.app.db, id, limit).await?;
    Ok(Json(ActivityList {
        tenant_id: id,
        activity: rows.into_iter().map(Into::into).collect(),
    }))
}

/// Sync status: outbox backlog of the tenant, and queue figures when RabbitMQ answers.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/sync",
    operation_id = "getSync",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The figures.", body = Sync),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn sync(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Json<Sync>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    let outbox = sync::outbox(&admin.app.db, id).await?;
    let broker = match admin.broker.tenant_queues(id).await {
        Ok(q) => q.into(),
        Err(e) => {
            tracing::warn!(error = %e, "admin sync: rabbitmq figures unavailable");
            BrokerFigures::unreachable()
        }
    };
    Ok(Json(Sync {
        tenant_id: id,
        outbox: outbox.into(),
        broker,
    }))
}

/// Dead-lettered changes of the tenant with their reason (never the body).
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/dead-letters",
    operation_id = "listDeadLetters",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The tenant's dead letters among the first 1000 of the queue.", body = DeadLetters),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
async fn dead_letters(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetters>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    let q = admin.broker.tenant_queues(id).await?;
    Ok(Json(DeadLetters::of(id, q)))
}

/// Send one of the tenant's dead letters back to the workers.
///
/// Like `scim-worker dlq replay --id`, restricted to the tenant.
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/dead-letters/{letter}/retry",
    operation_id = "retryDeadLetter",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("letter" = String, Path, description = "The dead letter's `id` (or its `message_id`)."),
    ),
    responses(
        (status = 200, description = "Replayed.", body = Replayed),
        (status = 404, description = "No such tenant, or no such dead letter of this tenant.", body = ErrorBody),
    ),
)]
async fn retry_dead_letter(
    State(admin): State<Admin>,
    Path((id, letter)): Path<(String, String)>,
) -> Result<Json<Replayed>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    admin.broker.retry(id, &letter).await?;
    Ok(Json(Replayed {
        tenant_id: id,
        replayed: 1,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every JSON route the API promises, as OpenAPI paths. `documented` registers each route from
    /// its documentation, so the document is what is served: a route added or dropped there fails
    /// the test below until this list agrees.
    const ROUTES: &[(&str, &str)] = &[
        ("/admin/api/tenants", "get"),
        ("/admin/api/tenants", "post"),
        ("/admin/api/tenants/{id}", "get"),
        ("/admin/api/tenants/{id}/token", "post"),
        ("/admin/api/tenants/{id}/token", "delete"),
        ("/admin/api/tenants/{id}/activity", "get"),
        ("/admin/api/tenants/{id}/sync", "get"),
        ("/admin/api/tenants/{id}/dead-letters", "get"),
        ("/admin/api/tenants/{id}/dead-letters/{letter}/retry", "post"),
        ("/admin/api/tenants/{id}/event-streams", "get"),
        ("/admin/api/tenants/{id}/event-streams", "post"),
        ("/admin/api/tenants/{id}/event-streams/{sid}", "delete"),
        ("/admin/api/tenants/{id}/event-streams/{sid}/replay", "post"),
        ("/admin/api/tenants/{id}/mapping", "put"),
        ("/admin/api/tenants/{id}/mapping", "get"),
        ("/admin/api/tenants/{id}/role-mapping", "put"),
        ("/admin/api/tenants/{id}/role-mapping", "get"),
        ("/admin/api/tenants/{id}/roles", "put"),
        ("/admin/api/tenants/{id}/roles", "get"),
        ("/admin/api/tenants/{id}/entitlements", "put"),
        ("/admin/api/tenants/{id}/entitlements", "get"),
        ("/admin/api/tenants/{id}/deprovisioning-guard", "get"),
        ("/admin/api/tenants/{id}/deprovisioning-guard", "put"),
        ("/admin/api/tenants/{id}/deprovisioning-guard/approve", "post"),
        ("/admin/api/tenants/{id}/deprovisioning-guard/reject", "post"),
        ("/admin/api/tenants/{id}/schemas", "get"),
        ("/admin/api/tenants/{id}/schemas/{urn}", "put"),
        ("/admin/api/tenants/{id}/schemas/{urn}", "get"),
        ("/admin/api/tenants/{id}/schemas/{urn}", "delete"),
    ];

    fn document() -> Value {
        serde_json::to_value(super::document()).unwrap()
    }

    #[test]
    fn the_openapi_document_describes_every_route_and_no_other() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                if method != "parameters" {
                    documented.push((path.as_str(), method.as_str()));
                }
            }
        }
        for route in ROUTES {
            assert!(documented.contains(route), "{route:?} is not documented");
        }
        for d in &documented {
            assert!(ROUTES.contains(d), "{d:?} is documented but not listed");
        }
    }

    #[test]
    fn every_operation_declares_bearer_security_and_its_errors() {
        let doc = document();
        assert_eq!(
            doc["components"]["securitySchemes"]["adminToken"]["scheme"],
            "bearer"
        );
        assert_eq!(doc["security"][0]["adminToken"], serde_json::json!([]));
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let responses = &op["responses"];
                for status in ["200", "401", "429", "503"] {
                    let ok =
                        status == "200" && (responses["201"].is_object() || responses["204"].is_object());
                    assert!(
                        responses[status].is_object() || ok,
                        "{method} {path} lacks {status}"
                    );
                }
                if method != "get" {
                    assert!(responses["403"].is_object(), "{method} {path} lacks 403");
                }
                if path.contains("{id}") {
                    assert!(responses["404"].is_object(), "{method} {path} lacks 404");
                }
                assert!(op["operationId"].is_string(), "{method} {path} lacks operationId");
                assert!(op["summary"].is_string(), "{method} {path} lacks a summary");
            }
        }
    }

    #[test]
    fn every_referenced_schema_is_defined() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(schemas.contains_key(name), "{name} is referenced but not defined");
        }
    }
}
