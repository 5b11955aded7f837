//! `/admin/api`: the admin page's actions as JSON, for scripts. Authenticate with
//! `Authorization: Bearer <ADMIN_TOKEN>` (or a page session plus `X-CSRF-Token`). The contract is
//! `openapi.json` beside this file, served at `/admin/api/openapi.json`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::AdminError;
use super::{Admin, ScimBaseUrl, sync, tenants};
use crate::activity as audit;
use crate::tokens;

const DEFAULT_ACTIVITY: u64 = 50;
const MAX_ACTIVITY: u64 = 500;

#[derive(Deserialize)]
pub struct NewTenant {
    name: String,
}

#[derive(Deserialize)]
pub struct ActivityQuery {
    limit: Option<u64>,
}

pub async fn list_tenants(State(admin): State<Admin>) -> Result<Json<Value>, AdminError> {
    let list = tenants::list(&admin.app.db).await?;
    Ok(Json(json!({"tenants": list})))
}

/// Creates a tenant and its first token (shown in this response only), like
/// `scim-api tenant create`.
pub async fn create_tenant(
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
        Json(json!({
            "tenant_id": issued.tenant_id,
            "name": body.name.trim(),
            "token": issued.token,
            "scim_base_url": base,
        })),
    ))
}

pub async fn tenant(
    State(admin): State<Admin>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let tenant = tenants::get(&admin.app.db, id).await?;
    let counts = tenants::counts(&admin.app.db, id).await?;
    Ok(Json(json!({
        "tenant": tenant,
        "scim_base_url": base,
        "counts": counts,
    })))
}

/// Issues a new token (shown in this response only) and revokes the old one, like
/// `scim-api token rotate`.
pub async fn rotate_token(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let issued = tokens::rotate(&admin.app.db, id).await?;
    tracing::info!(tenant_id = %id, "tenant token generated through the admin api");
    Ok(Json(json!(issued)))
}

pub async fn revoke_token(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let revoked = tokens::revoke(&admin.app.db, id).await?;
    tracing::info!(tenant_id = %id, revoked, "tenant token revoked through the admin api");
    Ok(Json(json!({"tenant_id": id, "revoked": revoked})))
}

pub async fn activity(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    query: Result<Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    let Query(q) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    tenants::get(&admin.app.db, id).await?;
    let limit = q.limit.unwrap_or(DEFAULT_ACTIVITY).clamp(1, MAX_ACTIVITY);
    let rows = audit::recent(&admin.app.db, id, limit).await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|a| {
            let mut v = json!(a);
            v["operation"] = a.operation().into();
            v
        })
        .collect();
    Ok(Json(json!({"tenant_id": id, "activity": rows})))
}

/// Outbox backlog of the tenant; queue figures and dead-letter counts when RabbitMQ answers.
pub async fn sync(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    let outbox = sync::outbox(&admin.app.db, id).await?;
    let broker = match admin.broker.tenant_queues(id).await {
        Ok(q) => json!({
            "reachable": true,
            "changes_queue": q.changes_queue,
            "dead_letters": q.dead_letters.len(),
            "dead_letters_total": q.dead_letters_total,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "admin sync: rabbitmq figures unavailable");
            json!({"reachable": false})
        }
    };
    Ok(Json(json!({"tenant_id": id, "outbox": outbox, "broker": broker})))
}

pub async fn dead_letters(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    let q = admin.broker.tenant_queues(id).await?;
    Ok(Json(json!({
        "tenant_id": id,
        "dead_letters": q.dead_letters,
        "examined": q.examined,
        "dead_letters_total": q.dead_letters_total,
    })))
}

pub async fn retry_dead_letter(
    State(admin): State<Admin>,
    Path((id, letter)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    admin.broker.retry(id, &letter).await?;
    Ok(Json(json!({"tenant_id": id, "replayed": 1})))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every JSON route of the router, as OpenAPI paths.
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
    ];

    #[test]
    fn the_openapi_document_describes_every_route_and_no_other() {
        let doc: Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
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
            assert!(ROUTES.contains(d), "{d:?} is documented but not served");
        }
    }

    #[test]
    fn every_operation_declares_bearer_security_and_its_errors() {
        let doc: Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        assert!(doc["components"]["securitySchemes"]["adminToken"].is_object());
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                assert!(op["responses"]["401"].is_object(), "{method} {path} lacks 401");
                assert!(op["operationId"].is_string(), "{method} {path} lacks operationId");
            }
        }
    }
}
