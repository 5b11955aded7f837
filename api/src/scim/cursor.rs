//! Cursor paging (RFC 9865): the `cursor` a list answers with as `nextCursor`, and reading it
//! back on the next request.
//!
//! A cursor holds no server state (every api replica must accept every other's): it is the
//! walk's position in the list's order (the sort key values of the last resource answered, the
//! id last, as Postgres renders them as text), a hash of what the walk lists (tenant, endpoint,
//! filter, sort), the time it was issued, and a checksum, encoded as base64url (RFC 3986
//! unreserved characters only, as RFC 9865 requires of a cursor).
//!
//! The checksum is unkeyed SHA-256, on purpose: it catches a cursor that was cut short,
//! corrupted or edited, and keeps an edited one from running as a query, but it does not stop a
//! client from writing a well-formed cursor of its own. That gains it nothing: a cursor only
//! says where to resume in a query the request itself names (tenant from the token, endpoint,
//! filter and sort from the request), every statement is fenced by the requesting tenant, and
//! the position values are bound parameters. A forged position skips to a point of the
//! client's own result set, which a filter could ask for anyway; a forged `issued` time only
//! stretches a timeout that protects no server resource. A key would have to be shared by all
//! replicas and rotated, for no protection worth having.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::sort::Sort;
use super::{Invalid, Kind, invalid};

/// A position in a list's order: each `ORDER BY` key of the last resource answered, as text
/// (`None`: SQL null), the id last.
pub type Position = Vec<Option<String>>;

/// Bumped when the encoding changes; an older cursor is then `invalidCursor`.
const VERSION: u8 = 1;
const BINDING_LEN: usize = 16;
const CHECKSUM_LEN: usize = 16;
/// Separates this checksum from any other SHA-256 of the same bytes.
const DOMAIN: &[u8] = b"scim-relay cursor";
/// Longest cursor read: a position is a few sort keys, far below this.
const MAX_ENCODED: usize = 4096;

/// What a walk lists, hashed: a cursor continues only the query it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding([u8; BINDING_LEN]);

impl Binding {
    /// `endpoint` names the result set (`Users`, `Groups`, the root search), not the method:
    /// `GET /Users` and `POST /Users/.search` with the same filter list the same resources, so a
    /// walk may switch between them. Paging and projection parameters do not change the set.
    pub fn new(tenant: Uuid, endpoint: &str, filter: Option<&str>, sort: Option<&Sort>) -> Self {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(tenant.as_bytes());
        for part in [
            Some(endpoint.to_ascii_lowercase()),
            filter.map(str::to_owned),
            sort.map(|s| s.by.to_string().to_ascii_lowercase()),
            sort.map(|s| if s.descending { "desc" } else { "asc" }.to_owned()),
        ] {
            // Length-prefixed, so that no two different tuples hash the same bytes.
            let bytes = part.map(String::into_bytes);
            h.update((bytes.as_ref().map_or(u64::MAX, |b| b.len() as u64)).to_be_bytes());
            h.update(bytes.unwrap_or_default());
        }
        let mut out = [0; BINDING_LEN];
        out.copy_from_slice(&h.finalize()[..BINDING_LEN]);
        Self(out)
    }
}

/// A cursor request, checked: where the walk resumes, and what the next cursor binds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    binding: Binding,
    /// `None`: the first page (`cursor` empty).
    pub position: Option<Position>,
}

impl Walk {
    /// Reads the `cursor` of a request for the query `binding` describes, at unix time `now`:
    /// empty starts a walk; otherwise it must be one this server issued for the same query no
    /// more than `timeout_secs` ago. Every cursor that is not, for whatever reason, gets the
    /// same answer (RFC 9865's security considerations: tell no actor what lies outside its
    /// scope).
    pub fn begin(token: &str, binding: Binding, now: i64, timeout_secs: u64) -> Result<Self, Invalid> {
        if token.is_empty() {
            return Ok(Self {
                binding,
                position: None,
            });
        }
        let (issued, position) = decode(token, binding).ok_or_else(invalid_cursor)?;
        if now.saturating_sub(issued) > i64::try_from(timeout_secs).unwrap_or(i64::MAX) {
            return Err(invalid(
                Kind::ExpiredCursor,
                format!(
                    "the cursor is older than {timeout_secs} seconds (cursorTimeout in \
                     /ServiceProviderConfig); start the walk again with an empty cursor"
                ),
            ));
        }
        Ok(Self {
            binding,
            position: Some(position),
        })
    }

    /// The `nextCursor` that resumes this walk after `position`, issued at unix time `now`.
    pub fn next(&self, position: &[Option<String>], now: i64) -> String {
        encode(self.binding, now, position)
    }
}

/// The answer to every cursor that is not one this server issued for the query it came with.
pub fn invalid_cursor() -> Invalid {
    invalid(
        Kind::InvalidCursor,
        "the cursor is not one this server issued for this query: send an empty cursor to start, \
         then each page's nextCursor unchanged, with the same filter, sortBy and sortOrder",
    )
}

fn encode(binding: Binding, issued: i64, position: &[Option<String>]) -> String {
    let mut out = vec![VERSION];
    out.extend(issued.to_be_bytes());
    out.extend(binding.0);
    // Positions are a handful of keys (a sort key and the id); more cannot be encoded.
    out.push(u8::try_from(position.len()).unwrap_or(u8::MAX));
    for key in position.iter().take(usize::from(u8::MAX)) {
        match key {
            None => out.push(0),
            Some(v) => {
                // A key value longer than 64 KiB is cut; such a cursor fails its read.
                let bytes = v.as_bytes();
                let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
                out.push(1);
                out.extend(len.to_be_bytes());
                out.extend(&bytes[..usize::from(len)]);
            }
        }
    }
    let sum = checksum(&out);
    out.extend(sum);
    URL_SAFE_NO_PAD.encode(out)
}

/// The issue time and position of `token`, if it is whole and was issued for `binding`.
fn decode(token: &str, binding: Binding) -> Option<(i64, Position)> {
    if token.len() > MAX_ENCODED {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(CHECKSUM_LEN)?)?;
    if checksum(body) != sum {
        return None;
    }
    let mut r = Reader(body);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let issued = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
    if r.take(BINDING_LEN)? != binding.0 {
        return None;
    }
    let n = r.take(1)?[0];
    let mut position = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        position.push(match r.take(1)?[0] {
            0 => None,
            1 => {
                let len = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
                Some(String::from_utf8(r.take(usize::from(len))?.to_vec()).ok()?)
            }
            _ => return None,
        });
    }
    r.0.is_empty().then_some((issued, position))
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new().chain_update(DOMAIN).chain_update(body).finalize();
    let mut out = [0; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

/// Reads a cursor's bytes front to back; `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::sort;

    const NOW: i64 = 1_760_000_000;
    const HOUR: u64 = 3600;

    fn binding(tenant: Uuid, filter: Option<&str>) -> Binding {
        Binding::new(tenant, "Users", filter, None)
    }

    fn position() -> Position {
        vec![
            Some("2025-10-09 13:03:21.123456+00".into()),
            None,
            Some("0199c8a0-0000-7000-8000-000000000001".into()),
        ]
    }

    fn issued(b: Binding) -> String {
        Walk::begin("", b, NOW, HOUR).unwrap().next(&position(), NOW)
    }

    #[test]
    fn an_empty_cursor_starts_a_walk() {
        let walk = Walk::begin("", binding(Uuid::nil(), None), NOW, HOUR).unwrap();
        assert_eq!(walk.position, None);
    }

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_issued_for() {
        let b = binding(Uuid::now_v7(), Some("userName sw \"a\""));
        let walk = Walk::begin(&issued(b), b, NOW + 10, HOUR).unwrap();
        assert_eq!(walk.position, Some(position()));
    }

    #[test]
    fn a_cursor_uses_only_unreserved_characters() {
        let token = issued(binding(Uuid::now_v7(), None));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            "{token}"
        );
    }

    #[test]
    fn garbage_is_an_invalid_cursor() {
        let b = binding(Uuid::nil(), None);
        for token in ["x", "not a cursor", "AAAA", "%%%", &"A".repeat(MAX_ENCODED + 1)] {
            assert_eq!(
                Walk::begin(token, b, NOW, HOUR).unwrap_err().kind,
                Kind::InvalidCursor,
                "{token}"
            );
        }
    }

    #[test]
    fn any_edited_or_truncated_cursor_is_an_invalid_cursor() {
        let b = binding(Uuid::now_v7(), None);
        let token = issued(b);
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 0x01;
            let edited = URL_SAFE_NO_PAD.encode(edited);
            assert_eq!(
                Walk::begin(&edited, b, NOW, HOUR).unwrap_err().kind,
                Kind::InvalidCursor,
                "byte {i}"
            );
        }
        for cut in 1..token.len() {
            assert!(Walk::begin(&token[..cut], b, NOW, HOUR).is_err(), "{cut}");
        }
    }

    #[test]
    fn a_cursor_of_another_tenant_endpoint_filter_or_sort_is_an_invalid_cursor() {
        let tenant = Uuid::now_v7();
        let token = issued(binding(tenant, Some("active eq true")));
        let by = sort::parse(Some("userName"), None).unwrap();
        let down = sort::parse(Some("userName"), Some("descending")).unwrap();
        for other in [
            binding(Uuid::now_v7(), Some("active eq true")),
            binding(tenant, Some("active eq false")),
            binding(tenant, None),
            Binding::new(tenant, "Groups", Some("active eq true"), None),
            Binding::new(tenant, "Users", Some("active eq true"), by.as_ref()),
            Binding::new(tenant, "Users", Some("active eq true"), down.as_ref()),
        ] {
            assert_eq!(
                Walk::begin(&token, other, NOW, HOUR).unwrap_err().kind,
                Kind::InvalidCursor
            );
        }
    }

    #[test]
    fn the_binding_ignores_the_case_of_the_endpoint_and_sort_attribute() {
        let t = Uuid::now_v7();
        let a = sort::parse(Some("userName"), None).unwrap();
        let b = sort::parse(Some("USERNAME"), None).unwrap();
        assert_eq!(
            Binding::new(t, "Users", None, a.as_ref()),
            Binding::new(t, "users", None, b.as_ref())
        );
        // A filter of "" and no filter are different queries only if they hash apart.
        assert_ne!(
            Binding::new(t, "Users", Some(""), None),
            Binding::new(t, "Users", None, None)
        );
    }

    #[test]
    fn a_cursor_older_than_the_timeout_is_an_expired_cursor() {
        let b = binding(Uuid::now_v7(), None);
        let token = issued(b);
        assert!(Walk::begin(&token, b, NOW + HOUR as i64, HOUR).is_ok());
        let err = Walk::begin(&token, b, NOW + HOUR as i64 + 1, HOUR).unwrap_err();
        assert_eq!(err.kind, Kind::ExpiredCursor);
        assert!(err.detail.contains("3600 seconds"), "{}", err.detail);
        // Another replica's clock a little behind is no error.
        assert!(Walk::begin(&token, b, NOW - 5, HOUR).is_ok());
    }
}
