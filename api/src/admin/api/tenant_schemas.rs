//! `/admin/api/tenants/{id}/schemas`: the schema extensions a tenant defines for its users
//! (RFC 7643 §7 documents). A definition is the tenant's alone: it shows in that tenant's
//! `/Schemas` and `/ResourceTypes/User`, and its values are checked, stored, returned, filtered,
//! sorted and PATCHed like the enterprise extension's.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::schema::{SchemaExtension, SchemaExtensionList};
use crate::admin::error::{AdminError, ErrorBody};
use crate::admin::{Admin, tenants};
use crate::scim::extension;
use crate::tenant_schemas;

fn view(row: shared::entity::scim_tenant_schema::Model) -> SchemaExtension {
    SchemaExtension {
        urn: row.urn,
        document: row.document,
        created_at: row.created_at.into(),
        updated_at: row.updated_at.into(),
    }
}

/// Define (or redefine) a schema extension for a tenant's users.
///
/// The body is an RFC 7643 §7 schema document (`attributes` with `name`, `type`, `multiValued`,
/// `required`, `caseExact`, `mutability`, `returned`, `uniqueness`, `subAttributes`, ...). It is
/// checked and completed with the RFC's defaults; the answer is the document as stored. The
/// tenant's next SCIM request uses it.
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/schemas/{urn}",
    operation_id = "putSchemaExtension",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("urn" = String, Path, description = "The extension's URN, e.g. urn:ietf:params:scim:schemas:extension:acme:2.0:User."),
    ),
    request_body(content = Object, description = "An RFC 7643 §7 schema document."),
    responses(
        (status = 201, description = "Defined.", body = SchemaExtension),
        (status = 200, description = "Redefined.", body = SchemaExtension),
        (status = 400, description = "Not a schema document this server can take (the error names the part), or a user holds a value it refuses.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_schema_extension(
    State(admin): State<Admin>,
    Path((id, urn)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    tenants::get(&admin.app.db, tenant).await?;
    let ext = extension::parse(&urn, &body).map_err(|e| AdminError::BadRequest(e.0))?;
    if let Some((user, why)) = tenant_schemas::first_misfit(&admin.app.db, tenant, &ext).await? {
        return Err(AdminError::BadRequest(format!(
            "user {user} holds a value the new definition refuses ({why}); change or remove such values first"
        )));
    }
    let created = tenant_schemas::put(&admin.app.db, tenant, &ext).await?;
    admin.app.auth_cache.invalidate();
    crate::auth_cache::announced(&admin.app.db).await?;
    let row = tenant_schemas::get(&admin.app.db, tenant, &urn)
        .await?
        .ok_or(AdminError::NotFound)?;
    tracing::info!(tenant_id = %tenant, urn = %row.urn, created, "schema extension defined");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(row))))
}

/// List a tenant's schema extensions.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/schemas",
    operation_id = "listSchemaExtensions",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The tenant's extensions.", body = SchemaExtensionList),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn list_schema_extensions(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<SchemaExtensionList>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    let rows = tenant_schemas::list(&admin.app.db, tenant).await?;
    Ok(Json(SchemaExtensionList {
        schemas: rows.into_iter().map(view).collect(),
    }))
}

/// Read one of a tenant's schema extensions.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/schemas/{urn}",
    operation_id = "getSchemaExtension",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("urn" = String, Path, description = "The extension's URN (case-insensitive)."),
    ),
    responses(
        (status = 200, description = "The extension.", body = SchemaExtension),
        (status = 404, description = "No such tenant or extension.", body = ErrorBody),
    ),
)]
pub async fn get_schema_extension(
    State(admin): State<Admin>,
    Path((id, urn)): Path<(String, String)>,
) -> Result<Json<SchemaExtension>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    let row = tenant_schemas::get(&admin.app.db, tenant, &urn)
        .await?
        .ok_or(AdminError::NotFound)?;
    Ok(Json(view(row)))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// Delete one of a tenant's schema extensions.
///
/// Refused with 409 while users hold values of it, unless `?force=true`: the values then stay in
/// the users' documents unseen (not returned, filtered or sent on), and show again if the URN is
/// defined again.
#[utoipa::path(
    delete,
    path = "/admin/api/tenants/{id}/schemas/{urn}",
    operation_id = "deleteSchemaExtension",
    params(
        ("id" = uuid::Uuid, Path, description = "Tenant id."),
        ("urn" = String, Path, description = "The extension's URN (case-insensitive)."),
        ("force" = Option<bool>, Query, description = "Delete even though users hold values of it."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such tenant or extension.", body = ErrorBody),
        (status = 409, description = "Users hold values of it; repeat with ?force=true.", body = ErrorBody),
    ),
)]
pub async fn delete_schema_extension(
    State(admin): State<Admin>,
    Path((id, urn)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    let row = tenant_schemas::get(&admin.app.db, tenant, &urn)
        .await?
        .ok_or(AdminError::NotFound)?;
    if !q.force && tenant_schemas::holds_values(&admin.app.db, tenant, &row.urn).await? {
        return Err(AdminError::Conflict(format!(
            "users of this tenant hold values of '{}'; delete with ?force=true to hide them",
            row.urn
        )));
    }
    tenant_schemas::delete(&admin.app.db, tenant, &row.urn).await?;
    admin.app.auth_cache.invalidate();
    crate::auth_cache::announced(&admin.app.db).await?;
    tracing::info!(tenant_id = %tenant, urn = %row.urn, forced = q.force, "schema extension deleted");
    Ok(StatusCode::NO_CONTENT)
}
