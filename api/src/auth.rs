//! Authentication and admission of requests. For SCIM requests, one middleware in front of every
//! `/scim/v2` route: the bearer token names the tenant, the tenant's rate limit applies, and the
//! request then waits in its tenant's line for a slot (`admission`). Knowing the tenant before
//! the request takes a global slot is what keeps one tenant's flood in its own line.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::admission::Line;
use crate::error::ScimError;
use crate::extract::{Tenant, bearer};
use crate::state::AppState;
use crate::tokens;

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // The token is read out first: a borrowed request (its body is not `Sync`) cannot be held
    // across the lookup.
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_owned);
    let tokens::Authenticated {
        tenant,
        schemas_version,
    } = match tenant_of(&state, token.as_deref()).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    // Before the rate limit, so that a throttled request shows in the activity log.
    if let Some(slot) = req.extensions().get::<crate::activity::TenantSlot>() {
        slot.fill(tenant);
    }
    if let Err(wait) = state.rate_limiter.check(tenant) {
        // No tenant label: per-tenant series on every request would grow with the tenants; the
        // activity log and the admin page tell which tenant was throttled.
        metrics::counter!("scim_rate_limited_total").increment(1);
        return ScimError::too_many_requests(wait).into_response();
    }
    let _ticket = state.admission.enter(Line::Tenant(tenant)).await;
    req.extensions_mut().insert(Tenant(tenant));
    // The tenant's own schema extensions, for everything that reads or checks a User.
    let schemas = match state.schemas.in_force(&state.db, tenant, schemas_version).await {
        Ok(s) => s,
        Err(e) => return ScimError::from(e).into_response(),
    };
    let idp = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::client::Idp::from_user_agent);
    if let Some(idp) = idp {
        tracing::Span::current().record("idp", idp.name());
    }
    crate::client::scoped(idp, crate::tenant_schemas::scoped(schemas, next.run(req))).await
}

async fn tenant_of(state: &AppState, token: Option<&str>) -> Result<tokens::Authenticated, ScimError> {
    let Some(token) = token else {
        return Err(ScimError::unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' with the tenant's API token",
        ));
    };
    tokens::authenticate(&state.db, &state.auth_cache, token)
        .await?
        .ok_or_else(|| {
            ScimError::unauthorized(
                "the bearer token is not valid: it may have been rotated or revoked; generate a new one",
            )
        })
}

/// Middleware for requests outside `/scim/v2` that need admission (the admin page and its
/// API): their line is the peer's address, so one client stalling sign-ins (slow bodies, no
/// token needed) holds only its own share.
pub async fn admit_client(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let client = peer(req.extensions()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let _ticket = state.admission.enter(Line::Client(client)).await;
    next.run(req).await
}

/// The address of the connection a request came on (the admission line of requests without a
/// tenant, and the admin throttle's client); `None` when the server was not started with
/// connection info (a router driven directly, as in unit tests).
pub fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}
