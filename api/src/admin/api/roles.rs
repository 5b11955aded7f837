//! `/admin/api/tenants/{id}/role-mapping`, `…/roles` and `…/entitlements`: the tenant's
//! group→role rules (each change re-derives the tenant's users' roles through the queue, with
//! progress here), and the roles and entitlements its admin defines for `/Roles`,
//! `/Entitlements` and the check of users' `roles` and `entitlements`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::roles::{Kind, RoleRule};
use shared::entity::scim_tenant_role_mapping as role_mapping;
use utoipa::ToSchema;

use crate::access::{self, NewDefinition};
use crate::admin::error::{AdminError, ErrorBody};
use crate::admin::{Admin, tenants};

/// One group→role rule.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoleRuleBody {
    /// A group's displayName, compared case-insensitively; its effective members (nested
    /// groups included) get the role.
    pub group: String,
    pub role: String,
    /// The highest priority among a user's mapped roles is its primary role (ties: the role
    /// name first in byte order), unless the IdP marked one of the user's own roles primary.
    #[serde(default)]
    pub priority: i32,
}

/// `PUT /admin/api/tenants/{id}/role-mapping`.
#[derive(Deserialize, ToSchema)]
pub struct NewRoleMapping {
    pub rules: Vec<RoleRuleBody>,
}

/// Where the re-derivation of the tenant's users after the last change stands.
#[derive(Serialize, ToSchema)]
pub struct Rederivation {
    /// The mapping's version; the workers have started on it once `derived_version` equals it.
    pub version: i64,
    pub derived_version: i64,
    /// The tenant's users in the product, and those re-derived under `derived_version`.
    pub total: i64,
    pub done: i64,
    pub running: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A tenant's role mapping, with the re-derivation's progress.
#[derive(Serialize, ToSchema)]
pub struct RoleMappingView {
    pub rules: Vec<RoleRuleBody>,
    pub rederivation: Option<Rederivation>,
}

pub fn rederivation(m: &role_mapping::Model) -> Rederivation {
    Rederivation {
        version: m.version,
        derived_version: m.derived_version,
        total: m.users_total,
        done: m.derived_done,
        running: m.derived_version < m.version || m.derived_at.is_none(),
        finished_at: m
            .derived_at
            .filter(|_| m.derived_version == m.version)
            .map(Into::into),
    }
}

fn shown(m: &role_mapping::Model) -> Vec<RoleRuleBody> {
    serde_json::from_value::<Vec<RoleRule>>(m.rules.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|r| RoleRuleBody {
            group: r.group,
            role: r.role,
            priority: r.priority,
        })
        .collect()
}

/// A tenant's role mapping as the API and the admin page show it.
pub async fn view(
    db: &sea_orm::DatabaseConnection,
    tenant: uuid::Uuid,
) -> Result<RoleMappingView, AdminError> {
    let row = access::role_mapping(db, tenant).await?;
    Ok(RoleMappingView {
        rules: row.as_ref().map(shown).unwrap_or_default(),
        rederivation: row.as_ref().map(rederivation),
    })
}

/// Set which groups give which roles.
///
/// Every user of the tenant is re-derived by the workers (`product.user_roles`), through the
/// queue; `GET` shows the progress. Roles named here count as defined for `/Roles` and for
/// users' `roles`.
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/role-mapping",
    operation_id = "putRoleMapping",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = NewRoleMapping,
    responses(
        (status = 200, description = "Stored; the re-derivation is queued.", body = RoleMappingView),
        (status = 400, description = "A rule lacks its group or role, or is there twice.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_role_mapping(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Json<NewRoleMapping>, JsonRejection>,
) -> Result<Json<RoleMappingView>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let db = &admin.app.db;
    tenants::get(db, tenant).await?;
    let rules: Vec<RoleRule> = body
        .rules
        .into_iter()
        .map(|r| RoleRule {
            group: r.group.trim().to_owned(),
            role: r.role.trim().to_owned(),
            priority: r.priority,
        })
        .collect();
    access::check_rules(&rules).map_err(AdminError::BadRequest)?;
    let (version, queued) = access::put_role_mapping(db, tenant, &rules).await?;
    admin.app.dispatcher.send([queued]);
    tracing::info!(tenant_id = %tenant, rules = rules.len(), version, "role mapping changed; re-derivation queued");
    Ok(Json(view(db, tenant).await?))
}

/// Read a tenant's role mapping and its re-derivation's progress.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/role-mapping",
    operation_id = "getRoleMapping",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The rules (none: no role comes from groups) and the re-derivation.", body = RoleMappingView),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn get_role_mapping(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RoleMappingView>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    Ok(Json(view(&admin.app.db, tenant).await?))
}

/// A role or entitlement the tenant defines.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DefinitionBody {
    /// What users' `roles[].value` / `entitlements[].value` name, and the resource's id under
    /// `/Roles` or `/Entitlements`.
    pub value: String,
    /// Shown as `displayName` (default: the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PUT|GET /admin/api/tenants/{id}/roles`. On `GET`, roles that only role-mapping rules name
/// are listed too (without display, type or description).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RolesBody {
    pub roles: Vec<DefinitionBody>,
}

/// `PUT|GET /admin/api/tenants/{id}/entitlements`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EntitlementsBody {
    pub entitlements: Vec<DefinitionBody>,
}

async fn put_definitions(
    admin: &Admin,
    id: &str,
    kind: Kind,
    defs: Vec<DefinitionBody>,
) -> Result<Vec<DefinitionBody>, AdminError> {
    let tenant = tenants::parse_id(id)?;
    let db = &admin.app.db;
    tenants::get(db, tenant).await?;
    let defs: Vec<NewDefinition> = defs
        .into_iter()
        .map(|d| NewDefinition {
            value: d.value.trim().to_owned(),
            display: d.display,
            kind_type: d.kind_type,
            description: d.description,
        })
        .collect();
    access::check_definitions(kind, &defs).map_err(AdminError::BadRequest)?;
    access::put_definitions(db, tenant, kind, &defs).await?;
    tracing::info!(tenant_id = %tenant, kind = kind.as_str(), defined = defs.len(), "definitions replaced");
    get_definitions(admin, id, kind).await
}

async fn get_definitions(admin: &Admin, id: &str, kind: Kind) -> Result<Vec<DefinitionBody>, AdminError> {
    let tenant = tenants::parse_id(id)?;
    tenants::get(&admin.app.db, tenant).await?;
    Ok(access::definitions(&admin.app.db, tenant, kind)
        .await?
        .into_iter()
        .map(|d| DefinitionBody {
            value: d.value,
            display: d.display,
            kind_type: d.r#type,
            description: d.description,
        })
        .collect())
}

/// Replace the roles a tenant defines.
///
/// `/Roles` lists them (with the roles role-mapping rules name); a user's `roles` must name
/// one. Users that hold a role no longer defined keep it.
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/roles",
    operation_id = "putRoles",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "Stored: the roles now defined.", body = RolesBody),
        (status = 400, description = "A value is empty, too long or there twice.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_roles(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Json<RolesBody>, JsonRejection>,
) -> Result<Json<RolesBody>, AdminError> {
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let roles = put_definitions(&admin, &id, Kind::Role, body.roles).await?;
    Ok(Json(RolesBody { roles }))
}

/// Read the roles a tenant defines (and the ones its role mapping names).
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/roles",
    operation_id = "getRoles",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The roles.", body = RolesBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn get_roles(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RolesBody>, AdminError> {
    let roles = get_definitions(&admin, &id, Kind::Role).await?;
    Ok(Json(RolesBody { roles }))
}

/// Replace the entitlements a tenant defines.
///
/// `/Entitlements` lists them; a user's `entitlements` must name one.
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/entitlements",
    operation_id = "putEntitlements",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = EntitlementsBody,
    responses(
        (status = 200, description = "Stored: the entitlements now defined.", body = EntitlementsBody),
        (status = 400, description = "A value is empty, too long or there twice.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_entitlements(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Json<EntitlementsBody>, JsonRejection>,
) -> Result<Json<EntitlementsBody>, AdminError> {
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let entitlements = put_definitions(&admin, &id, Kind::Entitlement, body.entitlements).await?;
    Ok(Json(EntitlementsBody { entitlements }))
}

/// Read the entitlements a tenant defines.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/entitlements",
    operation_id = "getEntitlements",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The entitlements.", body = EntitlementsBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn get_entitlements(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<EntitlementsBody>, AdminError> {
    let entitlements = get_definitions(&admin, &id, Kind::Entitlement).await?;
    Ok(Json(EntitlementsBody { entitlements }))
}
