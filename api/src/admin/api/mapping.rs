//! `/admin/api/tenants/{id}/mapping`: how a tenant's SCIM attributes fill `product.users` (a
//! product column, replacing its default source, or `attributes.<key>`), with a dry run and a
//! backfill of every user after a change.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use sea_orm::EntityTrait;
use shared::domain::mapping::Rule;
use shared::entity::{scim_tenant, scim_tenant_mapping};

use super::schema::{Backfill, MappingOutcome, MappingRule, MappingView, NewMapping};
use crate::admin::error::{AdminError, ErrorBody};
use crate::admin::{Admin, tenants};
use crate::mappings;

fn backfill(m: &scim_tenant_mapping::Model) -> Option<Backfill> {
    m.backfill_started_at.map(|started| Backfill {
        total: m.backfill_total,
        done: m.backfill_done,
        running: m.backfill_finished_at.is_none(),
        started_at: Some(started.into()),
        finished_at: m.backfill_finished_at.map(Into::into),
    })
}

fn shown(rules: &[Rule]) -> Vec<MappingRule> {
    rules
        .iter()
        .map(|r| MappingRule {
            from: r.from.clone(),
            to: r.to.clone(),
        })
        .collect()
}

/// Set how a tenant's attributes fill `product.users`.
///
/// Rules are checked against the tenant's schemas (the standard ones and its own extensions).
/// The answer counts the tenant's users whose product row the new rules change, with a sample
/// before and after. With `dry_run` nothing else happens; otherwise the rules apply to every
/// change from now on and every user is sent to the workers again (`backfill`, progress in
/// `GET`).
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/mapping",
    operation_id = "putMapping",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = NewMapping,
    responses(
        (status = 200, description = "Applied, or (dry run) what it would change.", body = MappingOutcome),
        (status = 400, description = "A rule names an unknown attribute or column; the error says which.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_mapping(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Json<NewMapping>, JsonRejection>,
) -> Result<Json<MappingOutcome>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let Json(body) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let db = &admin.app.db;
    let row = scim_tenant::Entity::find_by_id(tenant)
        .one(db)
        .await?
        .ok_or(AdminError::UnknownTenant(tenant))?;
    let in_force = admin
        .app
        .schemas
        .in_force(db, tenant, row.schemas_version)
        .await?;
    let asked: Vec<Rule> = body
        .mappings
        .iter()
        .map(|r| Rule {
            from: r.from.clone(),
            to: r.to.clone(),
        })
        .collect();
    let rules = mappings::check(in_force.user, &asked).map_err(AdminError::BadRequest)?;
    let new = shared::domain::mapping::Mapping { rules: rules.clone() };
    let dry = mappings::dry_run(db, tenant, &in_force.mapping, &new).await?;
    let mut outcome = MappingOutcome {
        dry_run: body.dry_run,
        mappings: shown(&rules),
        users: dry.users,
        changed: dry.changed,
        sample: dry.sample,
        backfill: None,
    };
    if !body.dry_run {
        mappings::put(db, tenant, &rules, dry.users).await?;
        admin.app.auth_cache.invalidate();
        crate::auth_cache::announced(db).await?;
        outcome.backfill = mappings::get(db, tenant).await?.as_ref().and_then(backfill);
        tracing::info!(tenant_id = %tenant, rules = rules.len(), users = dry.users, changed = dry.changed, "mapping changed; backfill started");
    }
    Ok(Json(outcome))
}

/// Read a tenant's mapping and its backfill's progress.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/mapping",
    operation_id = "getMapping",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The rules (none: the default projection) and the backfill.", body = MappingView),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn get_mapping(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<MappingView>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    Ok(Json(view(&admin.app.db, tenant).await?))
}

/// A tenant's mapping as the API and the admin page show it.
pub async fn view(db: &sea_orm::DatabaseConnection, tenant: uuid::Uuid) -> Result<MappingView, AdminError> {
    let row = mappings::get(db, tenant).await?;
    Ok(MappingView {
        mappings: row
            .as_ref()
            .map(mappings::rules_of)
            .as_deref()
            .map(shown)
            .unwrap_or_default(),
        backfill: row.as_ref().and_then(backfill),
    })
}
