//! CSRF protection for cookie sessions: every state-changing request must carry the session's
//! token, as the `csrf` field of a form or the `X-CSRF-Token` header of a JSON call. The check
//! sits in the admin guard, so no route can forget it. Requests authenticated with the bearer
//! admin token need none: a browser never adds that header by itself. Only the token's SHA-256
//! is stored (see `session`); a given token is hashed and compared with it in constant time.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AdminError;
use super::html::CSRF_FIELD;

pub const HEADER: &str = "x-csrf-token";
/// Admin forms are a few short fields.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Passes the request on if it carries the token whose SHA-256 is `expected`; a form body is
/// read and put back.
pub async fn verify(expected: &[u8], req: Request) -> Result<Request, AdminError> {
    if let Some(given) = req.headers().get(HEADER) {
        return if same(expected, given.as_bytes()) {
            Ok(req)
        } else {
            Err(AdminError::Csrf)
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AdminError::Csrf);
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AdminError::BadRequest("the form is too large".into()))?;
    let given = form_field(&bytes, CSRF_FIELD).ok_or(AdminError::Csrf)?;
    if !same(expected, given.as_bytes()) {
        return Err(AdminError::Csrf);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn same(expected: &[u8], given: &[u8]) -> bool {
    let given: [u8; 32] = Sha256::digest(given).into();
    expected.len() == given.len() && bool::from(given.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &'static str) -> Request {
        Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    }

    /// The stored form of the token `abc123`.
    fn stored() -> Vec<u8> {
        Sha256::digest(b"abc123").to_vec()
    }

    #[tokio::test]
    async fn a_form_with_the_right_token_passes_and_keeps_its_body() {
        let req = verify(&stored(), form("name=Acme&csrf=abc123")).await.unwrap();
        let bytes = axum::body::to_bytes(req.into_body(), 1024).await.unwrap();
        assert_eq!(&bytes[..], b"name=Acme&csrf=abc123");
    }

    #[tokio::test]
    async fn a_form_without_or_with_a_wrong_token_is_refused() {
        assert!(matches!(
            verify(&stored(), form("name=Acme")).await,
            Err(AdminError::Csrf)
        ));
        assert!(matches!(
            verify(&stored(), form("name=Acme&csrf=abc124")).await,
            Err(AdminError::Csrf)
        ));
    }

    #[tokio::test]
    async fn json_calls_need_the_header() {
        let json = |token: Option<&str>| {
            let mut b = Request::builder()
                .method(Method::POST)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(t) = token {
                b = b.header(HEADER, t);
            }
            b.body(Body::from("{}")).unwrap()
        };
        assert!(verify(&stored(), json(Some("abc123"))).await.is_ok());
        assert!(verify(&stored(), json(Some("nope"))).await.is_err());
        assert!(verify(&stored(), json(None)).await.is_err());
        // What the table holds is no token.
        let hex: String = stored().iter().map(|b| format!("{b:02x}")).collect();
        assert!(verify(&stored(), json(Some(&hex))).await.is_err());
    }

    #[test]
    fn an_empty_or_malformed_stored_hash_never_matches() {
        assert!(!same(b"", b""));
        assert!(!same(&[0u8; 31], b""));
    }

    #[test]
    fn reads_are_not_state_changing() {
        assert!(!changes_state(&Method::GET));
        assert!(changes_state(&Method::POST));
        assert!(changes_state(&Method::DELETE));
    }
}
