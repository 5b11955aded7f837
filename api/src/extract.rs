//! Request extractors whose rejections are SCIM errors: the authenticated tenant, the JSON body,
//! the query string, a list's parameters, the `If-Match` / `If-None-Match` preconditions and the
//! base URL resources are located under.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, header, request::Parts};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ScimError;
use crate::scim::Kind;
use crate::scim::etag::{Condition, Outcome, Preconditions};
use crate::scim::list::ListParams;
use crate::state::AppState;

/// The tenant the bearer token belongs to, as `auth::authenticate` found it before admitting
/// the request.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ScimError> {
        // Every SCIM route sits behind `auth::authenticate`; a route outside it that asks for a
        // tenant is refused rather than served to anyone.
        parts
            .extensions
            .get::<Tenant>()
            .copied()
            .ok_or_else(|| ScimError::unauthorized("this endpoint needs the tenant's bearer token"))
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
                    Some(Kind::InvalidSyntax),
                    "send the body as application/scim+json or application/json",
                ));
            }
        }
        // The body size is bounded by the RequestBodyLimit layer; hitting it fails here. Any
        // other read error is a body that ended early or was malformed on the wire.
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    ScimError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        "the request body is too large",
                    )
                } else {
                    ScimError::invalid(
                        Kind::InvalidSyntax,
                        "the request body could not be read completely",
                    )
                }
            })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::invalid(Kind::InvalidSyntax, format!("the body is not valid JSON: {e}"))
        })?;
        Ok(ScimBody(value))
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Query parameters, last value wins. Malformed encodings are a SCIM 400.
pub struct ScimQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ScimQuery {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ScimError> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs = parse_query(q)
            .map_err(|e| ScimError::invalid(Kind::InvalidSyntax, format!("malformed query string: {e}")))?;
        Ok(ScimQuery(pairs.into_iter().collect()))
    }
}

/// A list's parameters: from the query string of a `GET`, or from the body of a `POST .search`
/// (RFC 7644 §3.4.3), which keeps filters out of URLs and logs.
pub struct Listing {
    pub params: ListParams,
    /// They came in a `.search` body.
    pub searched: bool,
}

impl FromRequest<AppState> for Listing {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ScimError> {
        if req.method() == Method::POST {
            let ScimBody(body) = ScimBody::from_request(req, state).await?;
            let params = ListParams::from_search_request(&body)?;
            return Ok(Listing {
                params,
                searched: true,
            });
        }
        let (mut parts, _) = req.into_parts();
        let ScimQuery(query) = ScimQuery::from_request_parts(&mut parts, state).await?;
        let params = ListParams::from_query(&query)?;
        Ok(Listing {
            params,
            searched: false,
        })
    }
}

/// `application/x-www-form-urlencoded` parsing that refuses what lenient parsers repair: a `%`
/// not followed by two hex digits, or bytes that are not UTF-8. Repairing would search for a
/// value the client never sent (`userName eq "a%zz"`, or U+FFFD in place of invalid bytes).
fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_component(k)?, decode_component(v)?))
        })
        .collect()
}

fn decode_component(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("'%' must be followed by two hex digits at byte {i}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "percent-encoded bytes are not valid UTF-8".to_owned())
}

/// A request's `If-Match` / `If-None-Match`. A malformed one is a 400 rather than ignored: a
/// client that sends one relies on it to not overwrite someone else's change.
pub struct Conditional(pub Preconditions);

impl<S: Send + Sync> FromRequestParts<S> for Conditional {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ScimError> {
        let read = |name: header::HeaderName| -> Result<Option<Condition>, ScimError> {
            // Several header lines are one comma-separated list (RFC 9110 §5.3).
            let lines = parts
                .headers
                .get_all(&name)
                .iter()
                .map(|v| v.to_str())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ScimError::invalid(Kind::InvalidSyntax, format!("{name} is not valid text")))?;
            if lines.is_empty() {
                return Ok(None);
            }
            Ok(Some(Condition::parse(&lines.join(","))?))
        };
        Ok(Conditional(Preconditions {
            if_match: read(header::IF_MATCH)?,
            if_none_match: read(header::IF_NONE_MATCH)?,
        }))
    }
}

impl Conditional {
    /// For PUT, PATCH and DELETE, evaluated in the write's transaction while the resource's row
    /// is locked, so that no other write can slip in between the check and this one.
    pub fn check_write(&self, current_etag: &str) -> Result<(), ScimError> {
        match self.0.evaluate(current_etag, false) {
            Outcome::Proceed => Ok(()),
            _ => Err(self.failed(current_etag)),
        }
    }

    /// For GET: `Ok(true)` means the client's copy is current (304 Not Modified).
    pub fn check_read(&self, current_etag: &str) -> Result<bool, ScimError> {
        match self.0.evaluate(current_etag, true) {
            Outcome::Proceed => Ok(false),
            Outcome::NotModified => Ok(true),
            Outcome::Failed => Err(self.failed(current_etag)),
        }
    }

    fn failed(&self, current_etag: &str) -> ScimError {
        let if_match_failed = self.0.if_match.as_ref().is_some_and(|c| !c.matches(current_etag));
        ScimError::precondition_failed(if if_match_failed {
            format!(
                "the resource has changed since the version given in If-Match; it is now \
                 {current_etag}: read it again and re-apply the change to the current version"
            )
        } else {
            format!("If-None-Match matches the current version {current_etag}")
        })
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
        // HTTP/1.1 clients send Host; HTTP/1.0 ones may not, and get the plain local name.
        let host = match parts.headers.get(header::HOST) {
            None => "localhost",
            Some(h) => h.to_str().unwrap_or_default(),
        };
        if !state.allowed_hosts.allows(host) {
            return Err(ScimError::new(
                axum::http::StatusCode::MISDIRECTED_REQUEST,
                None,
                "this server does not answer for the Host this request names; the operator sets \
                 SCIM_PUBLIC_URL to the address IdPs use (or lists the host in SCIM_ALLOWED_HOSTS)",
            ));
        }
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
    use super::{bearer, parse_query};

    #[test]
    fn queries_decode_strictly() {
        let ok = parse_query("filter=userName+eq+%22a%40b.c%22&count=10&empty=&flag").expect("valid");
        assert_eq!(
            ok,
            [
                ("filter".into(), r#"userName eq "a@b.c""#.into()),
                ("count".into(), "10".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(parse_query("a=%C3%A9").expect("utf-8")[0].1, "é");
        for bad in ["a=%zz", "a=%2", "a=%", "a=%ff%fe", "%e9=x", "a=%2\""] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
