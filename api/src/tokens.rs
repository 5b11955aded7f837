//! Tenants and their API tokens. A token is `scimr_` + 64 hex digits (256 random bits); only its
//! SHA-256 is stored, so a leaked database does not leak working credentials. A tenant has at
//! most one live token: rotating revokes the old one in the same transaction. The statements
//! are the tables' own modules': `crate::tenants` and `crate::api_tokens`.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::auth_cache::{AuthCache, Lookup};
use crate::{api_tokens, tenants};

const TOKEN_PREFIX: &str = "scimr_";

#[derive(Debug, Serialize)]
pub struct IssuedToken {
    pub tenant_id: Uuid,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no tenant with id {0}")]
    UnknownTenant(Uuid),
    #[error("tenant name must not be empty")]
    EmptyName,
    /// Control characters have no place in a name, and Postgres text cannot hold NUL at all.
    #[error("tenant name must not contain control characters")]
    ControlInName,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + 64);
    token.push_str(TOKEN_PREFIX);
    for b in bytes {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn create_tenant(db: &DatabaseConnection, name: &str) -> Result<IssuedToken, TokenError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TokenError::EmptyName);
    }
    if name.chars().any(char::is_control) {
        return Err(TokenError::ControlInName);
    }
    let tenant_id = Uuid::now_v7();
    let token = generate();
    let txn = db.begin().await?;
    tenants::insert(&txn, tenant_id, name).await?;
    api_tokens::insert(&txn, tenant_id, hash(&token)).await?;
    txn.commit().await?;
    Ok(IssuedToken { tenant_id, token })
}

/// Issues a new token and revokes every earlier one, atomically; returns once every api has
/// emptied its cache of the earlier ones.
pub async fn rotate(db: &DatabaseConnection, tenant_id: Uuid) -> Result<IssuedToken, TokenError> {
    let txn = db.begin().await?;
    ensure_tenant(&txn, tenant_id).await?;
    api_tokens::revoke_all(&txn, tenant_id).await?;
    let token = generate();
    api_tokens::insert(&txn, tenant_id, hash(&token)).await?;
    txn.commit().await?;
    crate::auth_cache::announced(db).await?;
    Ok(IssuedToken { tenant_id, token })
}

/// Revokes every token of the tenant; returns how many were live. Returns once every api has
/// emptied its cache of them (`auth_cache::announced`).
pub async fn revoke(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64, TokenError> {
    let txn = db.begin().await?;
    ensure_tenant(&txn, tenant_id).await?;
    let n = api_tokens::revoke_all(&txn, tenant_id).await?;
    txn.commit().await?;
    crate::auth_cache::announced(db).await?;
    Ok(n)
}

async fn ensure_tenant(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<(), TokenError> {
    if tenants::lock(db, tenant_id).await? {
        Ok(())
    } else {
        Err(TokenError::UnknownTenant(tenant_id))
    }
}

/// Who a live token lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant: Uuid,
    /// The tenant's `schemas_version` (its own schema extensions changed when this moved).
    pub schemas_version: i64,
}

/// The tenant a bearer token belongs to, if the token is live: from memory while the cache is
/// on (see `auth_cache`), else from the database.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    cache: &AuthCache,
    token: &str,
) -> Result<Option<Authenticated>, DbErr> {
    if !well_formed(token) {
        return Ok(None);
    }
    let digest = hash(token);
    let generation = match cache.lookup(&digest) {
        Lookup::Hit(auth) => return Ok(Some(auth)),
        Lookup::Miss(generation) => generation,
    };
    let found = look_up(db, &digest).await?;
    if let Some(auth) = found {
        cache.insert(digest, auth, generation);
    }
    Ok(found)
}

fn well_formed(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64
}

async fn look_up(db: &impl ConnectionTrait, digest: &[u8]) -> Result<Option<Authenticated>, DbErr> {
    let Some((tenant, stored, schemas_version)) = api_tokens::live_by_hash(db, digest.to_vec()).await? else {
        return Ok(None);
    };
    // The lookup is by hash already; comparing in constant time as well keeps timing from
    // telling anything even if the index lookup were replaced.
    if bool::from(stored.ct_eq(digest)) {
        Ok(Some(Authenticated {
            tenant,
            schemas_version,
        }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_behind_a_prefix() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert!(a[TOKEN_PREFIX.len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_stored_form_is_the_sha256_of_the_token() {
        assert_eq!(hash("abc").len(), 32);
        assert_ne!(hash("abc"), hash("abd"));
    }
}
