//! The SCIM 2.0 protocol as pure code (RFC 7643 schemas, RFC 7644 filters, PATCH and lists):
//! no I/O here, so every rule is unit-tested in isolation.

pub mod etag;
pub mod filter;
pub mod group;
pub mod list;
pub mod members;
pub mod meta;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod schema_doc;
pub mod search;
pub mod sort;
pub mod user;

/// Why a request is not acceptable, in RFC 7644 §3.12 terms. The api maps it to a 400/409 SCIM
/// error; `detail` is shown to the IdP admin, so it says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Invalid {
    pub kind: Kind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidSyntax,
    InvalidValue,
    InvalidFilter,
    InvalidPath,
    NoTarget,
    Mutability,
    TooMany,
}

impl Kind {
    pub fn scim_type(self) -> &'static str {
        match self {
            Kind::InvalidSyntax => "invalidSyntax",
            Kind::InvalidValue => "invalidValue",
            Kind::InvalidFilter => "invalidFilter",
            Kind::InvalidPath => "invalidPath",
            Kind::NoTarget => "noTarget",
            Kind::Mutability => "mutability",
            Kind::TooMany => "tooMany",
        }
    }
}

pub fn invalid(kind: Kind, detail: impl Into<String>) -> Invalid {
    Invalid {
        kind,
        detail: detail.into(),
    }
}

/// A required, non-blank string attribute of bounded length (`userName`, `displayName`).
pub fn required_name(value: Option<&str>, attr: &str, max_chars: usize) -> Result<(), Invalid> {
    match value {
        None => Err(invalid(Kind::InvalidValue, format!("'{attr}' is required"))),
        Some(v) if v.trim().is_empty() => {
            Err(invalid(Kind::InvalidValue, format!("'{attr}' must not be blank")))
        }
        Some(v) if v.chars().count() > max_chars => Err(invalid(
            Kind::InvalidValue,
            format!("'{attr}' is longer than {max_chars} characters"),
        )),
        Some(_) => Ok(()),
    }
}
