//! Signed-in sessions of the admin page: a random 256-bit id in an HttpOnly, SameSite=Strict
//! cookie (Secure when the public URL is https), looked up server-side in
//! `scim.admin_sessions` by its SHA-256, so a copy of the table opens no session. Each session
//! has its own CSRF token and ends after [`TTL`], at sign-out, or when ADMIN_TOKEN changes.
//!
//! The CSRF token is derived from the session id (a SHA-256 of it under a label), so the pages
//! can show it on every request without the table holding it: the table keeps only the token's
//! own SHA-256, and a copy of the table gives no working CSRF token either.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait, QueryFilter,
    QuerySelect,
};
use sha2::{Digest, Sha256};
use shared::db::interval;
use shared::entity::scim_admin_session::{Column, Entity};

use super::key::AdminKey;

const COOKIE: &str = "scim_admin";
/// Sessions end this long after sign-in, whatever happens in between.
pub const TTL: Duration = Duration::from_secs(8 * 3600);

/// An open session: the row it is stored as, and its CSRF token for forms and `X-CSRF-Token`.
#[derive(Clone)]
pub struct Session {
    id_hash: Vec<u8>,
    /// For the pages to put in their forms; derived from the cookie, never read from the table.
    pub csrf: String,
    /// What a request's CSRF token is checked against (see `csrf::verify`).
    pub csrf_hash: Vec<u8>,
}

#[derive(Clone)]
pub struct Sessions {
    secure: bool,
}

impl Sessions {
    /// `secure`: send the cookie over https only (the public URL is https).
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// Opens a session; returns the `Set-Cookie` value that carries it.
    pub async fn open(&self, db: &DatabaseConnection, key: &AdminKey) -> Result<HeaderValue, DbErr> {
        // Expired rows are few (operators sign in rarely); clearing them here keeps the table small.
        Entity::delete_many()
            .filter(Expr::col(Column::ExpiresAt).lt(Expr::current_timestamp()))
            .exec(db)
            .await?;
        let id = random_hex();
        // The database's clock decides expiry (see `find`), so it also sets the deadline.
        let insert = Query::insert()
            .into_table(Entity.table_ref())
            .columns([
                Column::IdHash,
                Column::KeyFingerprint,
                Column::CsrfHash,
                Column::ExpiresAt,
            ])
            .values_panic([
                hash(&id).into(),
                key.fingerprint().into(),
                hash(&csrf_token(&id)).into(),
                Expr::current_timestamp().add(interval(TTL)),
            ])
            .take();
        db.execute(&insert).await?;
        Ok(self.cookie(&id, TTL.as_secs()))
    }

    /// The live session named by the request's cookie, if any.
    pub async fn find(
        &self,
        db: &DatabaseConnection,
        key: &AdminKey,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, DbErr> {
        let Some(id) = cookie_value(headers) else {
            return Ok(None);
        };
        let row: Option<(Vec<u8>, Vec<u8>)> = Entity::find()
            .select_only()
            .columns([Column::IdHash, Column::CsrfHash])
            .filter(Column::IdHash.eq(hash(id)))
            .filter(Column::KeyFingerprint.eq(key.fingerprint()))
            .filter(Expr::col(Column::ExpiresAt).gt(Expr::current_timestamp()))
            .into_tuple()
            .one(db)
            .await?;
        Ok(row.map(|(id_hash, csrf_hash)| Session {
            id_hash,
            csrf: csrf_token(id),
            csrf_hash,
        }))
    }

    /// Ends the session; returns the `Set-Cookie` value that removes the cookie.
    pub async fn close(&self, db: &DatabaseConnection, session: &Session) -> Result<HeaderValue, DbErr> {
        Entity::delete_by_id(session.id_hash.clone()).exec(db).await?;
        Ok(self.cookie("", 0))
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text =
            format!("{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
        HeaderValue::from_str(&text).expect("cookie text is ASCII without control characters")
    }
}

/// The session id from the `Cookie` header(s), if it has the shape of one.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How session ids and CSRF tokens are stored: their SHA-256.
fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The session's CSRF token: 256 bits that only the holder of the session id can compute,
/// distinct from the id's own hash (which the table holds) by the label.
fn csrf_token(id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"scim-relay admin csrf\0");
    h.update(id.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits as 64 hex digits: session ids and CSRF tokens.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let id = random_hex();
        let h = headers(&format!("theme=dark; {COOKIE}={id}; other=1"));
        assert_eq!(cookie_value(&h), Some(id.as_str()));
    }

    #[test]
    fn malformed_session_cookies_are_ignored_without_a_lookup() {
        assert_eq!(cookie_value(&headers(&format!("{COOKIE}=abc"))), None);
        assert_eq!(
            cookie_value(&headers(&format!("{COOKIE}={}", "z".repeat(64)))),
            None
        );
        assert_eq!(cookie_value(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = Sessions::new(false).cookie("x", 10);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let secure = Sessions::new(true).cookie("x", 10);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn csrf_tokens_are_per_session_and_not_the_stored_hash_of_anything_stored() {
        let (a, b) = (random_hex(), random_hex());
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_eq!(csrf_token(&a).len(), 64);
        // The table holds hash(id) and hash(csrf): neither is the token.
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_ne!(csrf_token(&a), hex(hash(&a)));
        assert_ne!(csrf_token(&a), hex(hash(&csrf_token(&a))));
    }

    #[test]
    fn ids_are_256_random_bits() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
