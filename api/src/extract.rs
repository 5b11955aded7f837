//! Request extractors whose rejections are SCIM errors: the authenticated tenant, the JSON body,
//! the query string and the base URL resources are located under.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ScimError;
use crate::state::AppState;
use crate::tokens;

/// The tenant the bearer token belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub Uuid);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(bearer) else {
            return Err(ScimError::unauthorized(
                "missing bearer token: send 'Authorization: Bearer <token>' with the tenant's API token",
            ));
        };
        match tokens::authenticate(&state.db, token).await? {
            Some(id) => {
                tracing::Span::current().record("tenant_id", tracing::field::display(id));
                // Before the rate limit, so that a throttled request shows in the activity log.
                if let Some(slot) = parts.extensions.get::<crate::admin::audit::TenantSlot>() {
                    slot.fill(id);
                }
                if let Err(wait) = state.rate_limiter.check(id) {
                    metrics::counter!("scim_rate_limited_total").increment(1);
                    return Err(ScimError::too_many_requests(wait));
                }
                Ok(Tenant(id))
            }
            None => Err(ScimError::unauthorized(
                "the bearer token is not valid: it may have been rotated or revoked; generate a new one",
            )),
        }
    }
}

pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A JSON request body. `application/scim+json` and `application/json` are accepted (and a
/// missing content type, which some scripts send); anything else is refused.
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ScimError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !ct.contains("json") {
                return Err(ScimError::new(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Some("invalidSyntax"),
                    "send the body as application/scim+json or application/json",
                ));
            }
        }
        // The body size is bounded by the RequestBodyLimit layer; hitting it fails here.
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|_| {
                ScimError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    "the request body is too large",
                )
            })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::bad_request("invalidSyntax", format!("the body is not valid JSON: {e}"))
        })?;
        Ok(ScimBody(value))
    }
}

/// Query parameters, last value wins. Malformed encodings are a SCIM 400.
pub struct ScimQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ScimQuery {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ScimError> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|e| ScimError::bad_request("invalidSyntax", format!("malformed query string: {e}")))?;
        Ok(ScimQuery(pairs.into_iter().collect()))
    }
}

/// `https://host/scim/v2`: the prefix of every resource location.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        if let Some(public) = &state.public_url {
            return Ok(BaseUrl(format!("{}/scim/v2", public.trim_end_matches('/'))));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let proto = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https" || *p == "http")
            .unwrap_or("http");
        Ok(BaseUrl(format!("{proto}://{host}/scim/v2")))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
