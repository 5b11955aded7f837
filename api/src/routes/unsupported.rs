//! Endpoints RFC 7644 defines that this server does not offer, answered with 501 Not
//! Implemented and a SCIM error body (§3.12: "Service provider does not support the request
//! operation"), rather than a 404 that reads like a wrong URL.

use axum::Router;
use axum::routing::{any, post};

use crate::error::ScimError;
use crate::extract::Tenant;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/Bulk", post(bulk)).route("/Me", any(me))
}

/// `/ServiceProviderConfig` says `bulk.supported: false` (RFC 7644 §3.7).
async fn bulk(_t: Tenant) -> ScimError {
    ScimError::not_implemented(
        "bulk operations are not supported (ServiceProviderConfig: bulk.supported is false); \
         send each operation as its own request to /Users or /Groups",
    )
}

/// RFC 7644 §3.11: a server without `/Me` "SHOULD respond with HTTP status code 501". A
/// token here belongs to a tenant's provisioning client, not to a user it could alias.
async fn me(_t: Tenant) -> ScimError {
    ScimError::not_implemented("/Me is not supported: tokens authenticate a provisioning client, not a user")
}
