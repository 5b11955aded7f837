//! Preconditions on a resource's version (RFC 7644 §3.14, RFC 7232): parsing `If-Match` and
//! `If-None-Match`, and deciding whether a request may proceed.
//!
//! Our ETags are weak (`W/"3"`: the same version means the same resource, not the same bytes),
//! so both headers compare weakly. RFC 7232 §3.1 asks for strong comparison on `If-Match`, under
//! which a weak tag never matches and every conditional write would fail; RFC 7644 §3.14 shows
//! `If-Match` carrying weak tags, and SCIM clients send back the `meta.version` they read, so
//! weak comparison is the only useful reading here.

use super::{Invalid, Kind, invalid};

/// One header's condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `*`: any current version.
    Any,
    /// The opaque parts of the listed tags (weak or not, which weak comparison ignores).
    Tags(Vec<String>),
}

impl Condition {
    /// Parses a header value: `*`, or a comma-separated list of entity tags (`"x"`, `W/"x"`).
    pub fn parse(header: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| {
            invalid(
                Kind::InvalidSyntax,
                format!(
                    "malformed entity tag list ({why}): send '*' or tags such as W/\"3\", as meta.version shows them"
                ),
            )
        };
        let trimmed = header.trim();
        if trimmed == "*" {
            return Ok(Condition::Any);
        }
        let mut tags = Vec::new();
        let mut rest = trimmed;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let unweak = rest.strip_prefix("W/").unwrap_or(rest);
            let Some(quoted) = unweak.strip_prefix('"') else {
                return Err(bad("a tag must be quoted"));
            };
            let Some(end) = quoted.find('"') else {
                return Err(bad("unterminated quote"));
            };
            let opaque = &quoted[..end];
            // etagc: %x21 / %x23-7E / obs-text
            if opaque
                .bytes()
                .any(|b| !(b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80))
            {
                return Err(bad("invalid character in a tag"));
            }
            tags.push(opaque.to_owned());
            rest = &quoted[end + 1..];
            let after = rest.trim_start_matches([' ', '\t']);
            if !(after.is_empty() || after.starts_with(',')) {
                return Err(bad("tags must be separated by commas"));
            }
        }
        if tags.is_empty() {
            return Err(bad("no tag given"));
        }
        Ok(Condition::Tags(tags))
    }

    /// Weak comparison (RFC 7232 §2.3.2) with the current ETag.
    pub fn matches(&self, current: &str) -> bool {
        match self {
            Condition::Any => true,
            Condition::Tags(tags) => {
                let current = opaque(current);
                tags.iter().any(|t| t == current)
            }
        }
    }
}

/// `W/"3"` → `3`.
fn opaque(tag: &str) -> &str {
    let t = tag.strip_prefix("W/").unwrap_or(tag);
    t.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(t)
}

/// The preconditions of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub if_match: Option<Condition>,
    pub if_none_match: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Proceed,
    /// A GET whose `If-None-Match` matched: 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

impl Preconditions {
    /// Evaluates against an existing resource's current ETag in the order of RFC 7232 §6.
    /// (A missing resource is a 404 before any precondition: §5 says errors take precedence.)
    pub fn evaluate(&self, current: &str, read: bool) -> Outcome {
        if let Some(c) = &self.if_match
            && !c.matches(current)
        {
            return Outcome::Failed;
        }
        if let Some(c) = &self.if_none_match
            && c.matches(current)
        {
            return if read {
                Outcome::NotModified
            } else {
                Outcome::Failed
            };
        }
        Outcome::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Condition {
        Condition::Tags(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn headers_parse_as_star_or_lists_of_weak_and_strong_tags() {
        assert_eq!(Condition::parse(" * ").unwrap(), Condition::Any);
        assert_eq!(Condition::parse("W/\"3\"").unwrap(), tags(&["3"]));
        assert_eq!(
            Condition::parse("\"1\", W/\"2\" ,W/\"a,b\"").unwrap(),
            tags(&["1", "2", "a,b"])
        );
    }

    #[test]
    fn malformed_headers_are_syntax_errors() {
        for bad in ["3", "W/3", "\"3", "\"3\" \"4\"", "", " , ", "\"a b\"", "*, \"1\""] {
            assert_eq!(
                Condition::parse(bad).unwrap_err().kind,
                Kind::InvalidSyntax,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn comparison_is_weak() {
        assert!(tags(&["3"]).matches("W/\"3\""));
        assert!(tags(&["2", "3"]).matches("W/\"3\""));
        assert!(!tags(&["31"]).matches("W/\"3\""));
        assert!(Condition::Any.matches("W/\"1\""));
    }

    #[test]
    fn if_match_must_match_and_if_none_match_must_not() {
        let p = |m: Option<Condition>, n: Option<Condition>| Preconditions {
            if_match: m,
            if_none_match: n,
        };
        let cur = "W/\"5\"";
        assert_eq!(p(None, None).evaluate(cur, false), Outcome::Proceed);
        assert_eq!(p(Some(tags(&["5"])), None).evaluate(cur, false), Outcome::Proceed);
        assert_eq!(p(Some(tags(&["4"])), None).evaluate(cur, false), Outcome::Failed);
        assert_eq!(
            p(Some(Condition::Any), None).evaluate(cur, false),
            Outcome::Proceed
        );
        assert_eq!(
            p(None, Some(tags(&["5"]))).evaluate(cur, true),
            Outcome::NotModified
        );
        assert_eq!(p(None, Some(tags(&["4"]))).evaluate(cur, true), Outcome::Proceed);
        assert_eq!(
            p(None, Some(Condition::Any)).evaluate(cur, false),
            Outcome::Failed
        );
        // If-Match is evaluated first: a failed one is a 412 even on a read.
        assert_eq!(
            p(Some(tags(&["4"])), Some(tags(&["5"]))).evaluate(cur, true),
            Outcome::Failed
        );
    }
}
