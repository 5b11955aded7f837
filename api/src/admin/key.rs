//! The operator's admin key (`ADMIN_TOKEN`). Only its SHA-256 is kept in memory after parsing,
//! and candidates are compared digest to digest in constant time, so neither the key's bytes nor
//! its length leak through timing.

use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shorter keys are refused at start-up: the key is the whole of the admin page's security.
pub const MIN_LEN: usize = 16;

#[derive(Clone)]
pub struct AdminKey {
    digest: [u8; 32],
    chars: usize,
}

/// Parsing never fails, so that command-line errors cannot echo the value; the length is
/// checked at start-up by [`AdminKey::check`] instead.
#[derive(Debug, thiserror::Error)]
#[error(
    "ADMIN_TOKEN must be at least {MIN_LEN} characters; use a long random value, e.g. `openssl rand -hex 32`"
)]
pub struct TooShort;

impl AdminKey {
    pub fn is_empty(&self) -> bool {
        self.chars == 0
    }

    pub fn check(&self) -> Result<(), TooShort> {
        if self.chars < MIN_LEN {
            Err(TooShort)
        } else {
            Ok(())
        }
    }

    /// Whether `candidate` is the admin key.
    pub fn matches(&self, candidate: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        bool::from(d.ct_eq(&self.digest))
    }

    /// Stored with each session, so that changing ADMIN_TOKEN signs every session out. It says
    /// nothing usable about the key: a hash of the key's hash under a fixed label.
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"scim-relay admin session key\0");
        h.update(self.digest);
        h.finalize().to_vec()
    }
}

impl FromStr for AdminKey {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self {
            digest: Sha256::digest(s.as_bytes()).into(),
            chars: s.chars().count(),
        })
    }
}

/// Never prints the key (the serve settings are `Debug`).
impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_matches() {
        let key: AdminKey = "correct horse battery staple".parse().unwrap();
        assert!(key.matches("correct horse battery staple"));
        assert!(!key.matches("correct horse battery stapl"));
        assert!(!key.matches("correct horse battery staple "));
        assert!(!key.matches(""));
    }

    #[test]
    fn short_keys_are_refused_without_repeating_them() {
        let short: AdminKey = "too-short".parse().unwrap();
        let err = short.check().unwrap_err().to_string();
        assert!(err.contains("at least 16") && !err.contains("too-short"), "{err}");
        assert!("0123456789abcdef".parse::<AdminKey>().unwrap().check().is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key: AdminKey = "a-secret-admin-key-value".parse().unwrap();
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn different_keys_have_different_session_fingerprints() {
        let a: AdminKey = "first-admin-key-0001".parse().unwrap();
        let b: AdminKey = "second-admin-key-002".parse().unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
