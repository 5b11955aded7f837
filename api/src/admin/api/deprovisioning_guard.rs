//! `/admin/api/tenants/{id}/deprovisioning-guard`: a tenant's guard against mass
//! deprovisioning (rules in `shared::domain::deprovisioning`), what it holds, and the decision
//! on it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::domain::deprovisioning::Policy;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::error::{AdminError, ErrorBody};
use crate::admin::{Admin, tenants};
use crate::deprovisioning::decisions::{self, Entry, Status};

/// One deprovisioning the guard keeps from the product (or kept, for protected accounts).
#[derive(Serialize, ToSchema)]
pub struct GuardEntry {
    pub user_id: Uuid,
    #[serde(rename = "userName")]
    pub user_name: String,
    /// `deactivate` or `delete`.
    pub kind: String,
    /// When the IdP sent it.
    pub at: DateTime<Utc>,
    /// When it reaches the product (changes in their grace period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_at: Option<DateTime<Utc>>,
}

impl From<Entry> for GuardEntry {
    fn from(e: Entry) -> Self {
        Self {
            user_id: e.user_id,
            user_name: e.user_name,
            kind: e.kind,
            at: e.at,
            release_at: e.release_at,
        }
    }
}

/// How many, and the first few.
#[derive(Serialize, ToSchema)]
pub struct GuardCount {
    pub count: i64,
    pub sample: Vec<GuardEntry>,
}

/// A tenant's guard: its policy, and what it holds.
#[derive(Serialize, ToSchema)]
pub struct GuardView {
    pub policy: Policy,
    /// Deactivations and deletes held until approve or reject, oldest first.
    pub held: GuardCount,
    /// Deactivations and deletes waiting out the grace period, the next due first.
    pub grace: GuardCount,
    /// Users whose deprovisioning was rejected and that the product keeps until the IdP changes
    /// them again.
    pub rejected: i64,
    /// Deprovisionings counted in the window now, and how many it lets through before holding.
    pub window: GuardWindow,
    /// Attempts to deactivate or delete a protected account, most recent first.
    pub protected_attempts: Vec<GuardEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct GuardWindow {
    pub minutes: i32,
    pub counted: i64,
    pub allowed: i64,
}

impl From<Status> for GuardView {
    fn from(s: Status) -> Self {
        let list = |v: Vec<Entry>| v.into_iter().map(GuardEntry::from).collect();
        Self {
            window: GuardWindow {
                minutes: s.policy.window_minutes,
                counted: s.recent,
                allowed: s.allowed,
            },
            policy: s.policy,
            held: GuardCount {
                count: s.held,
                sample: list(s.held_sample),
            },
            grace: GuardCount {
                count: s.grace,
                sample: list(s.grace_sample),
            },
            rejected: s.rejected,
            protected_attempts: list(s.protected_attempts),
        }
    }
}

/// What a decision did.
#[derive(Serialize, ToSchema)]
pub struct GuardDecision {
    /// `approved` or `rejected`.
    pub decision: &'static str,
    /// Held deprovisionings decided (0 when there were none: deciding again changes nothing).
    pub count: u64,
}

/// Read a tenant's deprovisioning guard: the policy (the defaults until one is set) and what it
/// holds.
#[utoipa::path(
    get,
    path = "/admin/api/tenants/{id}/deprovisioning-guard",
    operation_id = "getDeprovisioningGuard",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "The policy and what is held.", body = GuardView),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn get_deprovisioning_guard(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<GuardView>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    Ok(Json(decisions::status(&admin.app.db, tenant).await?.into()))
}

/// Set a tenant's deprovisioning guard. Absent fields take their defaults (`enabled` true,
/// `max_fraction` 0.1, `min_count` 25, `window_minutes` 60, `grace_minutes` 0, no protected
/// accounts). Changes already held stay held until approved or rejected, whatever the new policy.
#[utoipa::path(
    put,
    path = "/admin/api/tenants/{id}/deprovisioning-guard",
    operation_id = "putDeprovisioningGuard",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    request_body = Policy,
    responses(
        (status = 200, description = "Stored; the guard as it now stands.", body = GuardView),
        (status = 400, description = "A value out of range or an unknown field; the error says which.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn put_deprovisioning_guard(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Json<Policy>, JsonRejection>,
) -> Result<Json<GuardView>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    let Json(policy) = body.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    policy.check().map_err(AdminError::BadRequest)?;
    tenants::get(&admin.app.db, tenant).await?;
    decisions::put_policy(&admin.app.db, tenant, &policy).await?;
    tracing::info!(
        tenant_id = %tenant, enabled = policy.enabled, max_fraction = policy.max_fraction,
        min_count = policy.min_count, window_minutes = policy.window_minutes,
        grace_minutes = policy.grace_minutes, protected = policy.protected.len(),
        "deprovisioning guard policy set"
    );
    Ok(Json(decisions::status(&admin.app.db, tenant).await?.into()))
}

/// Approve every held deactivation and delete of the tenant: they reach the product in the
/// order the IdP sent them. Idempotent.
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/deprovisioning-guard/approve",
    operation_id = "approveDeprovisioning",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "How many were approved.", body = GuardDecision),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn approve_deprovisioning(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<GuardDecision>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    let d = decisions::approve(&admin.app.db, tenant).await?;
    Ok(Json(settle(&admin, d, "approved")))
}

/// Reject every held deactivation and delete of the tenant: the product keeps those users as
/// they are until the IdP sends a later change for them. Idempotent.
#[utoipa::path(
    post,
    path = "/admin/api/tenants/{id}/deprovisioning-guard/reject",
    operation_id = "rejectDeprovisioning",
    params(("id" = uuid::Uuid, Path, description = "Tenant id.")),
    responses(
        (status = 200, description = "How many were rejected.", body = GuardDecision),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ),
)]
pub async fn reject_deprovisioning(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<GuardDecision>, AdminError> {
    let tenant = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, tenant).await?;
    let d = decisions::reject(&admin.app.db, tenant).await?;
    Ok(Json(settle(&admin, d, "rejected")))
}

fn settle(admin: &Admin, d: decisions::Decided, decision: &'static str) -> GuardDecision {
    let count = d.count;
    hand_on(admin, d);
    GuardDecision { decision, count }
}

/// Hands a committed decision's messages to the dispatcher and its events to the sequencer.
pub fn hand_on(admin: &Admin, d: decisions::Decided) {
    admin.app.dispatcher.send(d.out);
    if d.evented {
        admin.app.events.signals.committed();
    }
}
