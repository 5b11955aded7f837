//! HTTP routes: SCIM resources under `/scim/v2`, and the operational endpoints.

pub mod discovery;
pub mod groups;
pub mod health;
pub mod search;
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
