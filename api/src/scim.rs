//! The SCIM 2.0 protocol as pure code (RFC 7643 schemas, RFC 7644 filters, PATCH and lists):
//! no I/O here, so every rule is unit-tested in isolation.

pub mod cursor;
pub mod etag;
pub mod extension;
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

/// The RFC 7644 §3.12 (and RFC 9865) `scimType` values this server answers with.
/// [`Kind::scim_type`] is the one place they are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidSyntax,
    InvalidValue,
    InvalidFilter,
    InvalidPath,
    NoTarget,
    Mutability,
    TooMany,
    /// A 409: a unique attribute's value is taken.
    Uniqueness,
    /// RFC 9865: a cursor this server did not issue for the query.
    InvalidCursor,
    /// RFC 9865: a cursor older than `cursorTimeout`.
    ExpiredCursor,
    /// RFC 9865: a cursor page's `count` outside 1..=`maxPageSize`.
    InvalidCount,
}

impl Kind {
    /// As the `scimType` of an error body.
    pub fn scim_type(self) -> &'static str {
        match self {
            Kind::InvalidSyntax => "invalidSyntax",
            Kind::InvalidValue => "invalidValue",
            Kind::InvalidFilter => "invalidFilter",
            Kind::InvalidPath => "invalidPath",
            Kind::NoTarget => "noTarget",
            Kind::Mutability => "mutability",
            Kind::TooMany => "tooMany",
            Kind::Uniqueness => "uniqueness",
            Kind::InvalidCursor => "invalidCursor",
            Kind::ExpiredCursor => "expiredCursor",
            Kind::InvalidCount => "invalidCount",
        }
    }
}

pub fn invalid(kind: Kind, detail: impl Into<String>) -> Invalid {
    Invalid {
        kind,
        detail: detail.into(),
    }
}

/// An identifier people and IdPs tell apart by eye (`userName`): no whitespace at either end,
/// no control characters (tab and line breaks included), no line or paragraph separators, and
/// no invisible format characters (Unicode category Cf: zero-width spaces and joiners, the word
/// joiner, the byte order mark, bidirectional controls, tag characters...). Otherwise `alice`,
/// `alice ` and `al\u{200B}ice` are three users an admin cannot tell apart, and a bidi control
/// can make a name read as another. This is the spirit of RFC 7613's UsernameCaseMapped profile,
/// which disallows controls and format characters. One exception keeps emoji names working: a
/// zero-width joiner between two emoji, as in the UTS #51 sequence 👩‍💻.
pub fn identifier(value: &str, attr: &str) -> Result<(), Invalid> {
    use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(invalid(
            Kind::InvalidValue,
            format!("'{attr}' must not begin or end with whitespace"),
        ));
    }
    let chars: Vec<char> = value.chars().collect();
    let emoji_at = |i: Option<usize>, component_ok: bool| {
        i.and_then(|i| chars.get(i)).is_some_and(|&c| {
            !c.is_ascii()
                && if component_ok {
                    c.is_emoji_char_or_emoji_component()
                } else {
                    c.is_emoji_char()
                }
        })
    };
    for (i, &c) in chars.iter().enumerate() {
        let what = match c.general_category() {
            GeneralCategory::Control => "control characters",
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                "line or paragraph separators"
            }
            GeneralCategory::Format
                if c == '\u{200D}' && emoji_at(i.checked_sub(1), true) && emoji_at(Some(i + 1), false) =>
            {
                continue;
            }
            GeneralCategory::Format => {
                "invisible format characters (zero-width characters, bidirectional controls and the like)"
            }
            _ => continue,
        };
        return Err(invalid(
            Kind::InvalidValue,
            format!(
                "'{attr}' must not contain {what}; found U+{:04X} at character {}",
                u32::from(c),
                i + 1
            ),
        ));
    }
    Ok(())
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
