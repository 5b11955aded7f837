//! The admin page's handlers: sign-in and sign-out, the tenant list and its create form, token
//! actions, dead-letter retries and a tenant's page; the markup is `views`. A new SCIM token
//! appears only in the response to the request that issued it (`no-store`), never again.

use axum::Extension;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::domain::roles::Kind;

use super::error::{AdminError, PageError};
use super::guard::Principal;
use super::tenants;
use super::throttle::Client;
use super::views::{self, Notice};
use super::{Admin, ScimBaseUrl, sync};
use crate::activity as audit;
use crate::tokens;

const MAX_FORM_BYTES: usize = 64 * 1024;

/// A url-encoded form body; a malformed one is a 400 page.
pub struct Form<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, _: &S) -> Result<Self, PageError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| AdminError::BadRequest("the form is too large".into()))?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(|e| PageError(AdminError::BadRequest(format!("malformed form: {e}"))))
    }
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

#[derive(Deserialize)]
pub struct NewTenant {
    name: String,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    /// How many a decision covered.
    count: Option<u64>,
}

pub async fn login_form(State(admin): State<Admin>, headers: HeaderMap) -> Result<Response, PageError> {
    if admin
        .sessions
        .find(&admin.app.db, &admin.key, &headers)
        .await?
        .is_some()
    {
        return Ok(Redirect::to("/admin").into_response());
    }
    Ok(views::login(None).into_response())
}

pub async fn login(
    State(admin): State<Admin>,
    client: Client,
    Form(form): Form<Login>,
) -> Result<Response, PageError> {
    match admin.check_key(client, &form.token) {
        Ok(()) => {}
        Err(AdminError::Throttled(t)) => {
            let body = views::login(Some(&format!("{}.", capitalized(&t.to_string()))));
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, t.retry_after_secs().to_string())],
                body,
            )
                .into_response());
        }
        Err(_) => {
            metrics::counter!("scim_admin_refused_total", "reason" => "sign_in").increment(1);
            tracing::warn!("admin sign-in with a wrong admin token");
            let body = views::login(Some("That is not the admin token."));
            return Ok((StatusCode::UNAUTHORIZED, body).into_response());
        }
    }
    let cookie = admin.sessions.open(&admin.app.db, &admin.key).await?;
    tracing::info!("admin signed in");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn logout(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
) -> Result<Response, PageError> {
    let mut resp = Redirect::to("/admin/login").into_response();
    if let Principal::Session(s) = who {
        let cookie = admin.sessions.close(&admin.app.db, &s).await?;
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

pub async fn index(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
) -> Result<Markup, PageError> {
    let list = tenants::list(&admin.app.db).await?;
    Ok(views::tenants(who.csrf(), &list))
}

pub async fn create_tenant(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Form(form): Form<NewTenant>,
) -> Result<Markup, PageError> {
    let issued = tokens::create_tenant(&admin.app.db, &form.name).await?;
    tracing::info!(tenant_id = %issued.tenant_id, "tenant created from the admin page");
    let tenant = tenants::get(&admin.app.db, issued.tenant_id).await?;
    Ok(views::new_token(
        who.csrf(),
        &tenant,
        &issued.token,
        &base,
        "Tenant created",
    ))
}

pub async fn rotate_token(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let id = tenants::parse_id(&id)?;
    let issued = tokens::rotate(&admin.app.db, id).await?;
    admin.app.auth_cache.invalidate();
    tracing::info!(tenant_id = %id, "tenant token generated from the admin page");
    let tenant = tenants::get(&admin.app.db, id).await?;
    Ok(views::new_token(
        who.csrf(),
        &tenant,
        &issued.token,
        &base,
        "New SCIM token",
    ))
}

pub async fn revoke_token(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Redirect, PageError> {
    let id = tenants::parse_id(&id)?;
    let n = tokens::revoke(&admin.app.db, id).await?;
    admin.app.auth_cache.invalidate();
    tracing::info!(tenant_id = %id, revoked = n, "tenant token revoked from the admin page");
    Ok(Redirect::to(&format!("/admin/tenants/{id}?notice=revoked")))
}

/// The banner's Approve all / Reject all.
pub async fn decide_deprovisioning(
    State(admin): State<Admin>,
    Path((id, decision)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    let decided = match decision.as_str() {
        "approve" => crate::deprovisioning::decisions::approve(&admin.app.db, id).await?,
        "reject" => crate::deprovisioning::decisions::reject(&admin.app.db, id).await?,
        _ => return Err(AdminError::NotFound.into()),
    };
    let count = decided.count;
    super::api::deprovisioning_guard::hand_on(&admin, decided);
    let notice = if decision == "approve" {
        "approved"
    } else {
        "rejected"
    };
    Ok(Redirect::to(&format!(
        "/admin/tenants/{id}?notice={notice}&count={count}"
    )))
}

pub async fn retry_dead_letter(
    State(admin): State<Admin>,
    Path((id, letter)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    admin.broker.retry(id, &letter).await?;
    Ok(Redirect::to(&format!(
        "/admin/tenants/{id}?notice=retried#dead-letters"
    )))
}

pub async fn tenant(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let id = tenants::parse_id(&id)?;
    let db = &admin.app.db;
    let tenant = tenants::get(db, id).await?;
    let counts = tenants::counts(db, id).await?;
    let outbox = sync::outbox(db, id).await?;
    let activity = audit::recent(db, id, views::ACTIVITY_ROWS).await?;
    let queues = admin.broker.tenant_queues(id).await;
    let streams = super::api::event_streams::of_tenant(db, id).await?;
    let extensions: Vec<String> = crate::tenant_schemas::list(db, id)
        .await?
        .into_iter()
        .map(|e| e.urn)
        .collect();
    let mapping = super::api::mapping::view(db, id).await?;
    let guard = crate::deprovisioning::decisions::status(db, id).await?.into();
    let references = crate::directory::member_refs::of_tenant(db, id, views::REFERENCES_SHOWN).await?;
    let roles = views::RolesCard {
        mapping: super::api::roles::view(db, id).await?,
        roles_defined: crate::access::definitions(db, id, Kind::Role).await?.len(),
        entitlements_defined: crate::access::definitions(db, id, Kind::Entitlement).await?.len(),
    };
    Ok(views::tenant(&views::TenantPage {
        csrf: who.csrf(),
        tenant: &tenant,
        counts: &counts,
        base: &base,
        notice: match notice.notice.as_deref() {
            Some("revoked") => Some(Notice::Revoked),
            Some("retried") => Some(Notice::Retried),
            Some("approved") => Some(Notice::Approved(notice.count.unwrap_or_default())),
            Some("rejected") => Some(Notice::Rejected(notice.count.unwrap_or_default())),
            _ => None,
        },
        outbox: &outbox,
        queues: &queues,
        activity: &activity,
        streams: &streams,
        extensions: &extensions,
        mapping: &mapping,
        guard: &guard,
        references: &references,
        roles: &roles,
    }))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/admin.css"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/admin.js"),
    )
}
