//! The operator's admin key (`ADMIN_TOKEN`). Only its SHA-256 is kept in memory after parsing,
//! and candidates are compared digest to digest in constant time, so neither the key's bytes nor
//! its length leak through timing.
//!
//! A key a person made up is refused at start-up: it is the whole of the admin page's
//! security, and the throttle on wrong keys only slows guessing down. Its strength is estimated
//! when it is parsed (then the text is dropped): each character costs the bits of the
//! character classes the key uses (lower case, upper case, digits, anything else), except that
//! continuing a run (`abc`, `321`, `aaa`) costs one bit and repeating earlier text (case
//! ignored) costs only about where that text was. So `aaaa…`, `passwordpassword…` and
//! `0123456789abcdef` fall far short, while random keys from `openssl rand -hex 16` or longer
//! pass by a wide margin. Words are not recognised: the estimate is a floor against the obvious,
//! not a dictionary check.

use std::path::PathBuf;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shorter keys are refused at start-up: the key is the whole of the admin page's security.
pub const MIN_LEN: usize = 16;
/// Estimated bits a key must reach (see the module docs); 32 random hex digits give about 160.
pub const MIN_BITS: u32 = 64;
/// The estimate reads at most this many characters: enough to judge, and bounded work.
const ESTIMATED_CHARS: usize = 256;
/// Where the key is read from (see [`AdminKey::from_env`]).
const ENV: &str = "ADMIN_TOKEN";
/// How to make a good key, for every refusal.
const ADVICE: &str = "use a long random value, e.g. `openssl rand -hex 32`";

#[derive(Clone)]
pub struct AdminKey {
    digest: [u8; 32],
    chars: usize,
    bits: u32,
}

/// Why the api does not start with the admin key it was given. Parsing a key never fails, so
/// that no error can echo the value; its strength is checked at start-up by [`AdminKey::check`].
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the admin key (ADMIN_TOKEN or ADMIN_TOKEN_FILE) must be at least {MIN_LEN} characters; {ADVICE}"
    )]
    TooShort,
    #[error(
        "the admin key (ADMIN_TOKEN or ADMIN_TOKEN_FILE) is too easy to guess: about {bits} bits by \
         estimate, at least {MIN_BITS} needed (it repeats itself, runs in sequence like abc or 123, \
         or uses few kinds of characters); {ADVICE}"
    )]
    Guessable { bits: u32 },
    #[error("ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set; set only one of them")]
    TwoSources,
}

impl AdminKey {
    pub fn is_empty(&self) -> bool {
        self.chars == 0
    }

    pub fn check(&self) -> Result<(), KeyError> {
        if self.chars < MIN_LEN {
            Err(KeyError::TooShort)
        } else if self.bits < MIN_BITS {
            Err(KeyError::Guessable { bits: self.bits })
        } else {
            Ok(())
        }
    }

    /// The key in the environment variable `ADMIN_TOKEN`, if set. Never a command-line flag:
    /// any user of the host can read another process's command line (`ps`), but not its
    /// environment. Text that is not UTF-8 is taken as it converts, and then surely fails the
    /// strength check rather than being ignored.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(ENV).map(|v| Self::from_text(&v.to_string_lossy()))
    }

    fn from_text(s: &str) -> Self {
        Self {
            digest: Sha256::digest(s.as_bytes()).into(),
            chars: s.chars().count(),
            bits: estimated_bits(s),
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
        Ok(Self::from_text(s))
    }
}

/// `ADMIN_TOKEN_FILE`: the admin key read from a file when the settings are parsed, so that a
/// file that cannot be read stops the start before anything else happens, and the key is read
/// once. A trailing newline (as `echo` and editors write) is not part of the key.
#[derive(Clone)]
pub struct KeyFile {
    path: PathBuf,
    key: AdminKey,
}

impl KeyFile {
    pub fn key(&self) -> &AdminKey {
        &self.key
    }
}

impl FromStr for KeyFile {
    type Err = String;

    /// The error names the file, never its content. The file is read as every secret file
    /// is (shared::secrets): without one trailing newline.
    fn from_str(path: &str) -> Result<Self, String> {
        use shared::secrets::{SecretError, read_file};
        let key = read_file(ENV, std::path::Path::new(path)).map_err(|e| match e {
            SecretError::Empty { .. } => {
                format!("{e}; put the admin key in it, e.g. `openssl rand -hex 32 > {path}`")
            }
            e => e.to_string(),
        })?;
        let key = key.as_str();
        Ok(Self {
            path: path.into(),
            key: AdminKey::from_text(key),
        })
    }
}

/// The path, never the key.
impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({})", self.path.display())
    }
}

/// Never prints the key (the serve settings are `Debug`).
impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(..)")
    }
}

/// A rough guessing-entropy estimate of `key`, in bits (see the module docs).
fn estimated_bits(key: &str) -> u32 {
    let chars: Vec<char> = key
        .chars()
        .take(ESTIMATED_CHARS)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let per_char = f64::from(alphabet(key)).log2();
    let mut bits = 0.0;
    let mut i = 0;
    while i < chars.len() {
        let repeat = longest_earlier_match(&chars, i);
        if repeat >= 3 {
            // Naming where the copy starts (and one bit for how long) is all it takes.
            bits += (i as f64).log2() + 1.0;
            i += repeat;
            continue;
        }
        bits += if continues_run(&chars, i) { 1.0 } else { per_char };
        i += 1;
    }
    bits as u32
}

/// The size of the character classes `key` draws from (at least 2).
fn alphabet(key: &str) -> u32 {
    let has = |f: fn(&char) -> bool| key.chars().any(|c| f(&c));
    let mut size = 0;
    if has(char::is_ascii_lowercase) {
        size += 26;
    }
    if has(char::is_ascii_uppercase) {
        size += 26;
    }
    if has(char::is_ascii_digit) {
        size += 10;
    }
    if has(|c| !c.is_ascii_alphanumeric()) {
        size += 33;
    }
    size.max(2)
}

/// The length of the longest text starting at `i` that also starts at an earlier position
/// (the copy may overlap `i`, as in `aaaa`).
fn longest_earlier_match(chars: &[char], i: usize) -> usize {
    (0..i)
        .map(|j| {
            chars[i..]
                .iter()
                .zip(&chars[j..])
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Whether `chars[i]` continues a run of steps of -1, 0 or +1 (`abc`, `cba`, `111`).
fn continues_run(chars: &[char], i: usize) -> bool {
    let (Some(&a), Some(&b), Some(&c)) = (
        i.checked_sub(2).and_then(|k| chars.get(k)),
        i.checked_sub(1).and_then(|k| chars.get(k)),
        chars.get(i),
    ) else {
        return false;
    };
    let step = |x: char, y: char| i64::from(u32::from(y)) - i64::from(u32::from(x));
    step(a, b) == step(b, c) && step(b, c).abs() <= 1
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

    fn check(key: &str) -> Result<(), KeyError> {
        key.parse::<AdminKey>().unwrap().check()
    }

    #[test]
    fn short_keys_are_refused_without_repeating_them() {
        let err = check("too-short").unwrap_err().to_string();
        assert!(err.contains("at least 16") && !err.contains("too-short"), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert!(check("x7Kq2mP9vR4tL8wZ").is_ok());
    }

    #[test]
    fn long_but_guessable_keys_are_refused_with_advice_and_without_repeating_them() {
        for weak in [
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "passwordpasswordpasswordpassword",
            "PasswordPASSWORDpassword",
            "passwordpassword1234",
            "changemechangeme",
            "0123456789abcdef",
            "abcdefghijklmnopqrstuvwxyz012345",
            "1234567890123456",
            "abababababababababababababababab",
            &"a".repeat(10_000),
        ] {
            let err = check(weak).unwrap_err();
            assert!(matches!(err, KeyError::Guessable { .. }), "{weak}: {err}");
            let text = err.to_string();
            assert!(text.contains("too easy to guess") && text.contains("openssl rand -hex 32"));
            assert!(!text.contains(&weak[..8]), "{text}");
        }
    }

    #[test]
    fn random_keys_pass() {
        // From `openssl rand -hex 16`, `-hex 32` and `-base64 24`, and keys the tests use.
        for good in [
            "9f86d081884c7d659a2feaa0c55ad015",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "q3Zl8Vv0n0eX+4cT1m7bWk2yHf9aJd6P",
            "test-admin-key-7f3a9c2e51d04b68",
            "another-admin-key-0a1b2c3d4e5f",
        ] {
            assert!(check(good).is_ok(), "{good}: {:?}", check(good));
        }
        // Any 32 random hex digits pass, not only lucky ones.
        for _ in 0..2_000 {
            let mut bytes = [0u8; 16];
            rand::fill(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert!(check(&hex).is_ok(), "{hex}");
        }
    }

    fn temp_file(content: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("scim-admin-key-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_key_file_is_read_without_its_trailing_newline_and_never_shown() {
        let path = temp_file("9f86d081884c7d659a2feaa0c55ad015\n");
        let file: KeyFile = path.to_str().unwrap().parse().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(file.key().matches("9f86d081884c7d659a2feaa0c55ad015"));
        assert!(!file.key().matches("9f86d081884c7d659a2feaa0c55ad015\n"));
        assert!(file.key().check().is_ok());
        let shown = format!("{file:?}");
        assert!(
            shown.contains("scim-admin-key-") && !shown.contains("9f86d0"),
            "{shown}"
        );
        let crlf = temp_file("9f86d081884c7d659a2feaa0c55ad015\r\n");
        let file: KeyFile = crlf.to_str().unwrap().parse().unwrap();
        std::fs::remove_file(&crlf).unwrap();
        assert!(file.key().matches("9f86d081884c7d659a2feaa0c55ad015"));
    }

    #[test]
    fn a_key_file_that_is_missing_or_empty_is_an_error_naming_the_file() {
        let err = "/nonexistent/admin-key".parse::<KeyFile>().unwrap_err();
        assert!(err.contains("/nonexistent/admin-key cannot be read"), "{err}");
        let empty = temp_file("\n");
        let err = empty.to_str().unwrap().parse::<KeyFile>().unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(
            err.contains("is empty") && err.contains("openssl rand -hex 32"),
            "{err}"
        );
    }

    #[test]
    fn runs_and_repeats_cost_little_in_the_estimate() {
        assert!(estimated_bits("abcdefgh") < estimated_bits("ahcfbgde"));
        assert!(estimated_bits("passwordpassword") < estimated_bits("passwordqwertyui"));
        assert!(estimated_bits("") == 0);
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
