//! `ScimError`: the one error type of the api, rendered as an RFC 7644 §3.12 error body. Every
//! failure (handler errors, extractor rejections, body limits, timeouts, unknown routes, database
//! outages) is turned into it here, so no response leaves in another shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde_json::json;
use shared::retry::Transience;

use crate::scim::schema::ERROR_SCHEMA;
use crate::scim::{Invalid, Kind};

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// SQLSTATE of a statement cancelled by `statement_timeout` or a cancel request.
const QUERY_CANCELED: &str = "57014";

/// Seconds an IdP is told to wait before retrying after a 503.
const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<Kind>,
    pub detail: String,
    pub retry_after: Option<u64>,
    /// The database cancelled a statement for running past its time limit (SQLSTATE 57014).
    /// A read that a client's filter made expensive turns this into a 400 (`directory::bounded`).
    pub timed_out: bool,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<Kind>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            timed_out: false,
        }
    }

    /// A 400 whose `scimType` is `kind`.
    pub fn invalid(kind: Kind, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(kind), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some(Kind::Uniqueness), detail)
    }

    /// An `If-Match` or `If-None-Match` precondition does not hold (RFC 7644 §3.14).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }

    /// An operation RFC 7644 defines that this server does not offer (§3.12: 501).
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
        }
    }

    /// The tenant sent more than its rate limit allows; `Retry-After` says when to come back.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some((wait.as_secs_f64().ceil() as u64).max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "too many requests for this tenant; retry after the time in Retry-After",
            )
        }
    }

    /// A server-side failure: the cause chain is logged, the client gets a generic detail.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %chain(err), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal server error; the request was not applied",
        )
    }
}

/// The `scimType` of an error response as its body spells it, for the activity log (which never
/// reads bodies).
#[derive(Debug, Clone, Copy)]
pub struct ScimType(pub &'static str);

/// `a: b: c` for an error and its sources.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

impl From<Invalid> for ScimError {
    fn from(e: Invalid) -> Self {
        Self::invalid(e.kind, e.detail)
    }
}

impl From<DbErr> for ScimError {
    fn from(e: DbErr) -> Self {
        if shared::db::sqlstate(&e).as_deref() == Some(QUERY_CANCELED) {
            tracing::warn!(error = %chain(&e), "statement cancelled (time limit or abandoned request)");
            return Self {
                timed_out: true,
                ..Self::unavailable("the directory took too long to answer; retry shortly")
            };
        }
        if e.is_transient() {
            tracing::warn!(error = %chain(&e), "database unavailable");
            Self::unavailable("the directory database is temporarily unavailable; retry shortly")
        } else {
            Self::internal(&e)
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        let scim_type = self.scim_type.map(Kind::scim_type);
        if let Some(t) = scim_type {
            body["scimType"] = t.into();
        }
        let mut resp = (self.status, body.to_string()).into_response();
        if let Some(t) = scim_type {
            resp.extensions_mut().insert(ScimType(t));
        }
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Gives responses produced outside the handlers (timeouts, body limits, unmatched methods,
/// panics) a SCIM error body. Responses that already have one pass through untouched.
pub async fn ensure_scim_error_body(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // Our own JSON bodies (SCIM errors, /readyz's report) and the admin page's HTML error pages
    // pass; plain-text or empty bodies made by layers and the framework are replaced.
    let ours = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.to_str()
            .is_ok_and(|ct| ct.contains("json") || ct.starts_with("text/html"))
    });
    if ours {
        return resp;
    }
    let (scim_type, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (None, "the request body is too large".to_owned()),
        StatusCode::REQUEST_TIMEOUT => (None, "the request took too long and was abandoned".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (None, "this method is not supported on this endpoint".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Some(Kind::InvalidSyntax),
            "send the body as application/scim+json or application/json".to_owned(),
        ),
        StatusCode::NOT_FOUND => (None, "no such endpoint".to_owned()),
        s if s.is_server_error() => (
            None,
            "internal server error; the request was not applied".to_owned(),
        ),
        s => (None, s.canonical_reason().unwrap_or("request failed").to_owned()),
    };
    let status = if status == StatusCode::REQUEST_TIMEOUT {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    let mut err = ScimError::new(status, scim_type, detail);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        err.retry_after = Some(RETRY_AFTER_SECS);
    }
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_render_the_scim_error_schema_with_a_string_status() {
        let resp = ScimError::uniqueness("userName 'a' is taken").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], SCIM_CONTENT_TYPE);
        let b = body(resp).await;
        assert_eq!(b["schemas"][0], ERROR_SCHEMA);
        assert_eq!(b["status"], "409");
        assert_eq!(b["scimType"], "uniqueness");
    }

    #[tokio::test]
    async fn unauthorized_carries_a_bearer_challenge() {
        let resp = ScimError::unauthorized("bad token").into_response();
        assert!(
            resp.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }

    #[tokio::test]
    async fn plain_error_responses_get_a_scim_body() {
        let plain = (StatusCode::PAYLOAD_TOO_LARGE, "too big").into_response();
        let resp = ensure_scim_error_body(plain).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body(resp).await["status"], "413");
    }

    #[tokio::test]
    async fn timeouts_become_retryable_503s() {
        let resp = ensure_scim_error_body(StatusCode::REQUEST_TIMEOUT.into_response()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key(header::RETRY_AFTER));
    }
}
