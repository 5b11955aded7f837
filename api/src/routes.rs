//! HTTP routes: SCIM resources under `/scim/v2`, and the operational endpoints.

pub mod access;
pub mod asynchronous;
pub mod discovery;
pub mod groups;
pub mod health;
mod resource;
pub mod search;
pub mod unsupported;
pub mod users;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::SCIM_CONTENT_TYPE;

/// A SCIM JSON response, with `ETag` and `Location` when given.
pub fn scim_json(
    status: StatusCode,
    body: &Value,
    etag: Option<String>,
    location: Option<String>,
) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(header::ETAG, tag);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    resp
}

/// 304 Not Modified for a GET whose `If-None-Match` names the current version: no body, and
/// the `ETag` a 200 would have carried (RFC 7232 §4.1).
pub fn not_modified(etag: String) -> Response {
    bodiless(StatusCode::NOT_MODIFIED, etag)
}

/// 204 No Content after a write, with the new `ETag` for the client's next `If-Match`.
pub fn no_content(etag: String) -> Response {
    bodiless(StatusCode::NO_CONTENT, etag)
}

fn bodiless(status: StatusCode, etag: String) -> Response {
    let mut resp = status.into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    resp
}
