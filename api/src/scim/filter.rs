//! RFC 7644 §3.4.2.2 filters: parsing `filter=` expressions into a [`Filter`] tree, rendering them
//! back, and evaluating them against a resource in memory. Also parses the attribute paths of
//! `sortBy`/`attributes` and of PATCH operations (RFC 7644 §3.5.2), which embed filters.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use chrono::DateTime;
use serde_json::Value;

use super::schema::{self, Attr, ResourceSchema, Type};
use super::{Invalid, Kind, invalid};

/// Longest filter or path accepted, in bytes: real ones are a few dozen bytes, and the cap bounds
/// the work hostile input can cause.
pub const MAX_FILTER_BYTES: usize = 4 * 1024;
/// Deepest nesting of parentheses, `not` and brackets: keeps the recursive parser (and the
/// evaluator) far from the stack limit.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    /// `emails[type eq "work" and value co "@x"]`: `filter`'s paths are relative to each element of `path`
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[urn ":"] attr ["." sub]`, as written (names are matched case-insensitively later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A PATCH `path`: `attrPath`, or `attrPath "[" valFilter "]" ["." subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// urn + attr (+ sub when there is no filter).
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub sub: Option<String>,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    fn from_word(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

/// Parses a `filter` query parameter (or the `filter` of a search request).
pub fn parse(input: &str) -> Result<Filter, Invalid> {
    let run = || {
        let mut p = Parser::new(input)?;
        p.bare_words = crate::client::current() == Some(crate::client::Idp::Authentik);
        let filter = p.or(false)?;
        match p.peek() {
            None => Ok(filter),
            Some(_) => Err(p.unexpected("'and', 'or' or the end of the filter")),
        }
    };
    run().map_err(|detail| invalid(Kind::InvalidFilter, format!("invalid filter: {detail}")))
}

/// Parses a bare attribute path (`name.givenName`, `urn:...:enterprise:2.0:User:department`,
/// `meta.lastModified`, `$ref`), as used by `sortBy` and `attributes`.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, Invalid> {
    attr_path(input.trim()).map_err(|detail| {
        invalid(
            Kind::InvalidPath,
            format!("invalid path '{}': {detail}", clip(input)),
        )
    })
}

/// Parses a PATCH `path`; unlike filters, it may end in `.sub` after the brackets
/// (`emails[type eq "work"].value`).
pub fn parse_patch_path(input: &str) -> Result<PatchPath, Invalid> {
    let run = || {
        let mut p = Parser::new(input)?;
        let (word, at) = match p.next_token() {
            Some(Token {
                tok: Tok::Word(word),
                at,
            }) => (*word, *at),
            _ => return Err(p.unexpected_at(0, "an attribute name")),
        };
        let attr = attr_path(word).map_err(|e| p.fail(at, e))?;
        let mut path = PatchPath {
            attr,
            filter: None,
            sub: None,
        };
        if let Some(Tok::OpenBracket) = p.peek() {
            let filter = p.value_filter(&path.attr)?;
            path.filter = Some(filter);
            if let Some(Tok::Word(word)) = p.peek() {
                let at = p.here();
                let sub = word
                    .strip_prefix('.')
                    .ok_or_else(|| p.unexpected("'.subAttribute' or the end"))?;
                check_name(sub).map_err(|e| p.fail(at, e))?;
                path.sub = Some(sub.to_owned());
                p.next += 1;
            }
        }
        match p.peek() {
            None => Ok(path),
            Some(_) => Err(p.unexpected("the end of the path")),
        }
    };
    run().map_err(|detail| {
        invalid(
            Kind::InvalidPath,
            format!("invalid path '{}': {detail}", clip(input)),
        )
    })
}

/// Evaluates `filter` against a whole resource (attribute names resolved through `schema`).
/// The directory filters in SQL; this is the reference the SQL translation is tested against.
pub fn matches(filter: &Filter, resource: &Value, schema: &ResourceSchema) -> bool {
    eval(filter, resource, Scope::Resource(schema))
}

/// Evaluates a value filter (the part inside `emails[...]`) against one element of the
/// multi-valued attribute `parent`.
pub fn matches_element(filter: &Filter, element: &Value, parent: Option<&Attr>) -> bool {
    eval(filter, element, Scope::Element(parent))
}

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

#[derive(Debug)]
enum Tok<'a> {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    /// Anything else up to a delimiter: attribute paths, operators, `and`/`or`/`not`, literals.
    Word(&'a str),
}

#[derive(Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Byte offset in the input.
    at: usize,
}

/// Errors are plain details here; the public functions pick the SCIM error type.
type Parsed<T> = Result<T, String>;

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token<'a>>,
    next: usize,
    depth: usize,
    /// Whether a comparison value may be an unquoted word ([`bare_word`]).
    bare_words: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Parsed<Self> {
        if input.len() > MAX_FILTER_BYTES {
            return Err(format!(
                "it is {} bytes long; at most {MAX_FILTER_BYTES} are accepted",
                input.len()
            ));
        }
        let mut p = Parser {
            input,
            toks: Vec::new(),
            next: 0,
            depth: 0,
            bare_words: false,
        };
        p.toks = lex(input).map_err(|(at, e)| p.fail(at, e))?;
        Ok(p)
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.next).map(|t| &t.tok)
    }

    fn next_token(&mut self) -> Option<&Token<'a>> {
        let t = self.toks.get(self.next);
        self.next += 1;
        t
    }

    /// Byte offset of the next token (or the end of the input).
    fn here(&self) -> usize {
        self.toks.get(self.next).map_or(self.input.len(), |t| t.at)
    }

    fn fail(&self, at: usize, what: impl fmt::Display) -> String {
        // Positions are 1-based characters: what an admin counts in the IdP's log line.
        let pos = self.input.get(..at).map_or(at, |s| s.chars().count()) + 1;
        format!("{what} at position {pos}")
    }

    fn unexpected(&self, expected: &str) -> String {
        self.unexpected_at(self.next, expected)
    }

    fn unexpected_at(&self, index: usize, expected: &str) -> String {
        let (at, found) = match self.toks.get(index) {
            None => (self.input.len(), "the end".to_owned()),
            Some(t) => (t.at, format!("{}", Found(&t.tok))),
        };
        self.fail(at, format!("expected {expected} but found {found}"))
    }

    fn expect(&mut self, want: fn(&Tok) -> bool, what: &str, opened_at: usize) -> Parsed<()> {
        if self.peek().is_some_and(want) {
            self.next += 1;
            return Ok(());
        }
        let opened = self.fail(opened_at, "opened");
        Err(self.unexpected(&format!("{what} (to close the one {opened})")))
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(self.here(), format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// `or` binds loosest; chains are built iteratively, so long chains cost no stack.
    fn or(&mut self, in_brackets: bool) -> Parsed<Filter> {
        let mut left = self.and(in_brackets)?;
        while let Some(Tok::Word(w)) = self.peek()
            && w.eq_ignore_ascii_case("or")
        {
            self.next += 1;
            let right = self.and(in_brackets)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, in_brackets: bool) -> Parsed<Filter> {
        let mut left = self.unary(in_brackets)?;
        while let Some(Tok::Word(w)) = self.peek()
            && w.eq_ignore_ascii_case("and")
        {
            self.next += 1;
            let right = self.unary(in_brackets)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, in_brackets: bool) -> Parsed<Filter> {
        let at = self.here();
        match self.peek() {
            Some(Tok::Open) => {
                self.enter()?;
                self.next += 1;
                let inner = self.or(in_brackets)?;
                self.expect(|t| matches!(t, Tok::Close), "')'", at)?;
                self.depth -= 1;
                Ok(inner)
            }
            // `not` is only the operator when a '(' follows; otherwise it is an attribute name.
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("not")
                    && matches!(self.toks.get(self.next + 1).map(|t| &t.tok), Some(Tok::Open)) =>
            {
                self.enter()?;
                let open_at = self.toks.get(self.next + 1).map_or(at, |t| t.at);
                self.next += 2;
                let inner = self.or(in_brackets)?;
                self.expect(|t| matches!(t, Tok::Close), "')'", open_at)?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Tok::Word(word)) => {
                let word = *word;
                self.next += 1;
                self.attr_exp(word, at, in_brackets)
            }
            _ => Err(self.unexpected("an attribute name, '(' or 'not ('")),
        }
    }

    /// After an attribute path: `pr`, an operator and a value, or a bracketed value filter.
    fn attr_exp(&mut self, word: &str, at: usize, in_brackets: bool) -> Parsed<Filter> {
        let path = attr_path(word).map_err(|e| self.fail(at, e))?;
        let op_at = self.here();
        let op = match self.peek() {
            Some(Tok::OpenBracket) if in_brackets => {
                return Err(self.fail(op_at, "'[' inside '[...]': value filters cannot be nested"));
            }
            Some(Tok::OpenBracket) => {
                let filter = self.value_filter(&path)?;
                if let Some(Tok::Word(w)) = self.peek()
                    && w.starts_with('.')
                {
                    return Err(self.fail(
                        self.here(),
                        format!("'{}' after ']' is only valid in PATCH paths", clip(w)),
                    ));
                }
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                });
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.next += 1;
                return Ok(Filter::Present(path));
            }
            Some(Tok::Word(w)) => CompareOp::from_word(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected(&format!(
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) or '[' after '{}'",
                clip(word)
            )));
        };
        self.next += 1;
        let value = match self.peek() {
            Some(Tok::Str(s)) => Some(Value::String(s.clone())),
            Some(Tok::Word(w)) if self.bare_words => bare_word(w),
            Some(Tok::Word(w)) => literal(w),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.unexpected(&format!(
                "a value (a \"string\", a number, true, false or null) after '{}'",
                op.as_str()
            )));
        };
        self.next += 1;
        Ok(Filter::Compare { path, op, value })
    }

    /// `[ valFilter ]`, the next token being the '['.
    fn value_filter(&mut self, path: &AttrPath) -> Parsed<Filter> {
        let at = self.here();
        if path.sub.is_some() {
            return Err(self.fail(at, "'[' must follow an attribute name without a sub-attribute"));
        }
        self.enter()?;
        self.next += 1;
        let filter = self.or(true)?;
        self.expect(|t| matches!(t, Tok::CloseBracket), "']'", at)?;
        self.depth -= 1;
        Ok(filter)
    }
}

/// How a token is named in "expected X but found Y".
struct Found<'t, 'a>(&'t Tok<'a>);

impl fmt::Display for Found<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Tok::Open => f.write_str("'('"),
            Tok::Close => f.write_str("')'"),
            Tok::OpenBracket => f.write_str("'['"),
            Tok::CloseBracket => f.write_str("']'"),
            Tok::Str(s) => write!(f, "the string {}", Value::String(clip(s).into_owned())),
            Tok::Word(w) => write!(f, "'{}'", clip(w)),
        }
    }
}

fn lex(input: &str) -> Result<Vec<Token<'_>>, (usize, String)> {
    // All delimiters are ASCII, so scanning bytes never splits a UTF-8 character.
    let bytes = input.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let at = i;
        let tok = match b {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => Tok::Open,
            b')' => Tok::Close,
            b'[' => Tok::OpenBracket,
            b']' => Tok::CloseBracket,
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err((at, "unterminated string (no closing '\"') starting".into())),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                // Filter strings are JSON strings (RFC 7644 §3.4.2.2), escapes included.
                let literal = input.get(at..=i).unwrap_or_default();
                let s: String = serde_json::from_str(literal).map_err(|_| {
                    (at, "invalid string (bad escape or control character; use JSON escapes such as \\\" \\\\ \\u00e9) starting".to_owned())
                })?;
                // `\u0000` is a valid JSON escape, but no stored value can hold U+0000 (Postgres
                // text refuses it, and the query would fail as a 500): it can only be a mistake
                // or a probe, so it is the client's error here rather than the database's.
                if s.contains('\0') {
                    return Err((
                        at,
                        "a NUL character (\\u0000), which no attribute value can contain, in the string starting"
                            .to_owned(),
                    ));
                }
                Tok::Str(s)
            }
            _ => {
                while bytes.get(i + 1).is_some_and(|&b| !is_delimiter(b)) {
                    i += 1;
                }
                Tok::Word(input.get(at..=i).unwrap_or_default())
            }
        };
        i += 1;
        toks.push(Token { tok, at });
    }
    Ok(toks)
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

/// A comparison value as authentik sends it: its user lookup is `userName eq alice`, the name
/// unquoted (authentik/providers/scim/clients/users.py), which RFC 7644 §3.4.2.2 does not allow.
/// `true`, `false` and `null` keep their meaning; any other word, digits included, is the string
/// it spells, since authentik only ever puts a name there.
fn bare_word(word: &str) -> Option<Value> {
    match literal(word) {
        Some(Value::Number(_)) | None => Some(Value::String(word.to_owned())),
        keyword => keyword,
    }
}

/// `true`, `false`, `null` (case-insensitive, as ABNF literals are) or a JSON number.
fn literal(word: &str) -> Option<Value> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => match serde_json::from_str::<Value>(word).ok()? {
            // serde_json's fast float parser can be an ulp off, so a rendered filter would
            // parse back to another value; the standard library rounds correctly.
            Value::Number(n) if n.is_f64() => word
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            n @ Value::Number(_) => Some(n),
            _ => None,
        },
    }
}

/// `[URN ":"] ATTRNAME ["." ATTRNAME]`; the URN is everything up to the last ':' because URN
/// versions contain dots (`...:enterprise:2.0:User:manager.value`).
fn attr_path(word: &str) -> Parsed<AttrPath> {
    let (urn, rest) = match word.rfind(':') {
        Some(colon) if word.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) && colon > 4 => {
            (Some(&word[..colon]), &word[colon + 1..])
        }
        Some(_) => {
            return Err(format!(
                "'{}' is not an attribute path (':' only follows a schema URN)",
                clip(word)
            ));
        }
        None => (None, word),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (rest, None),
    };
    let in_word = |e: String| {
        if attr == word {
            e
        } else {
            format!("{e} in '{}'", clip(word))
        }
    };
    check_name(attr).map_err(in_word)?;
    if let Some(sub) = sub {
        check_name(sub).map_err(in_word)?;
    }
    Ok(AttrPath {
        urn: urn.map(str::to_owned),
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"), plus `$ref` (RFC 7643 §2.1).
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some('$') => name == "$ref",
        Some(c) if c.is_ascii_alphabetic() => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else if name.is_empty() {
        Err("missing attribute name".to_owned())
    } else {
        Err(format!("'{}' is not a valid attribute name", clip(name)))
    }
}

/// Input echoed in an error is cut short: a hostile 4 KiB filter should not come back whole
/// in the response and the logs.
pub(crate) fn clip(s: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 64;
    match s.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &s[..end]).into(),
        None => s.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders valid filter syntax that parses back to the same tree: parentheses only where
/// precedence or grouping (and/or are left-associative) needs them.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn grouped(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
            if parens {
                write!(f, "({filter})")
            } else {
                write!(f, "{filter}")
            }
        }
        match self {
            Filter::Or(l, r) => {
                write!(f, "{l} or ")?;
                grouped(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::And(l, r) => {
                grouped(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                grouped(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            // serde_json renders strings as JSON strings, which is the filter string syntax.
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// What attribute names are relative to: the resource, or one element of a multi-valued
/// attribute inside `[...]`.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Element(Option<&'s Attr>),
}

fn eval(filter: &Filter, node: &Value, scope: Scope) -> bool {
    match filter {
        Filter::And(l, r) => eval(l, node, scope) && eval(r, node, scope),
        Filter::Or(l, r) => eval(l, node, scope) || eval(r, node, scope),
        Filter::Not(inner) => !eval(inner, node, scope),
        Filter::Present(path) => {
            let (groups, _) = resolve(path, node, scope);
            groups.into_iter().flatten().any(is_present)
        }
        Filter::Compare { path, op, value } => {
            let (groups, def) = resolve(path, node, scope);
            groups.iter().any(|values| compare_any(values, def, *op, value))
        }
        Filter::ValuePath { path, filter } => {
            let (groups, def) = resolve(path, node, scope);
            groups
                .into_iter()
                .flatten()
                .any(|v| v.is_object() && eval(filter, v, Scope::Element(def)))
        }
    }
}

/// The values `path` designates in `node`, one group per value of the attribute (per element
/// of a multi-valued one), and the schema definition of the last path segment, if known.
///
/// A comparison holds when it holds for any group. Each element of a multi-valued attribute is
/// compared on its own, so an email without a `type` has its type unassigned and
/// `emails.type ne "work"` holds for it, just as `emails[type ne "work"]` does. An attribute
/// with no value at all is one empty group: unassigned, null and `[]` are the same state
/// (RFC 7643 §2.5), so `ne` holds for it like for any unassigned attribute.
fn resolve<'v>(
    path: &AttrPath,
    node: &'v Value,
    scope: Scope,
) -> (Vec<Vec<&'v Value>>, Option<&'static Attr>) {
    let (container, mut def) = match (scope, path.urn.as_deref()) {
        (Scope::Element(parent), _) => (Some(node), parent.and_then(|p| p.sub_attr(&path.attr))),
        (Scope::Resource(schema), None) => (Some(node), schema.core_attr(&path.attr)),
        (Scope::Resource(schema), Some(urn)) if schema.is_core_urn(urn) => {
            (Some(node), schema.core_attr(&path.attr))
        }
        (Scope::Resource(schema), Some(urn)) => (
            lookup(node, urn),
            schema
                .extension(urn)
                .and_then(|(_, attrs)| schema::find(attrs, &path.attr)),
        ),
    };
    let values = container
        .and_then(|c| lookup(c, &path.attr))
        .map(elements)
        .unwrap_or_default();
    let groups: Vec<Vec<&Value>> = match &path.sub {
        Some(sub) => {
            def = def.and_then(|d| d.sub_attr(sub));
            values
                .into_iter()
                .map(|v| lookup(v, sub).map(elements).unwrap_or_default())
                .collect()
        }
        None => values.into_iter().map(|v| vec![v]).collect(),
    };
    if groups.is_empty() {
        return (vec![Vec::new()], def);
    }
    (groups, def)
}

/// Attribute names are case-insensitive; stored names are canonical, so try the exact key first.
fn lookup<'v>(node: &'v Value, name: &str) -> Option<&'v Value> {
    let obj = node.as_object()?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(obj) => !obj.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// True when any value satisfies the comparison.
fn compare_any(values: &[&Value], def: Option<&'static Attr>, op: CompareOp, expected: &Value) -> bool {
    // A complex value compared without a sub-attribute (`emails co "@x"`) is compared by its
    // `value` (RFC 7644 §3.4.2.2).
    let operands: Vec<(&Value, Option<&Attr>)> = values
        .iter()
        .filter_map(|&v| match v {
            Value::Object(_) => {
                lookup(v, "value").map(|inner| (inner, def.and_then(|d| d.sub_attr("value"))))
            }
            Value::Null => None,
            other => Some((other, def)),
        })
        .collect();
    if operands.is_empty() {
        // Unassigned attributes equal nothing, so `ne` holds; they are what `eq null` asks for.
        return match op {
            CompareOp::Eq => expected.is_null(),
            CompareOp::Ne => !expected.is_null(),
            _ => false,
        };
    }
    operands
        .into_iter()
        .any(|(actual, def)| compare(actual, op, expected, def))
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, def: Option<&Attr>) -> bool {
    match (actual, expected) {
        // `actual` is assigned, so it is not null.
        (_, Value::Null) => op == CompareOp::Ne,
        (Value::String(a), Value::String(b)) => compare_strings(a, b, op, def),
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => ordered(op, a.partial_cmp(&b)),
            _ => false,
        },
        // Booleans have no order (RFC 7644: gt/ge/lt/le on booleans are not allowed).
        (Value::Bool(a), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

fn compare_strings(a: &str, b: &str, op: CompareOp, def: Option<&Attr>) -> bool {
    let ordering_op = !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    if ordering_op && def.is_some_and(|d| d.ty == Type::DateTime) {
        // Instants, not text: "2024-01-01T01:00:00+01:00" eq "2024-01-01T00:00:00Z".
        return match (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)) {
            (Ok(a), Ok(b)) => ordered(op, Some(a.cmp(&b))),
            _ => false,
        };
    }
    // Unknown attributes compare case-insensitively, like most SCIM string attributes.
    let (a, b): (Cow<str>, Cow<str>) = if def.is_some_and(|d| d.case_exact) {
        (a.into(), b.into())
    } else {
        (a.to_lowercase().into(), b.to_lowercase().into())
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        _ => ordered(op, Some(a.cmp(&b))),
    }
}

fn ordered(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord.is_eq(),
        CompareOp::Ne => ord.is_ne(),
        CompareOp::Gt => ord.is_gt(),
        CompareOp::Ge => ord.is_ge(),
        CompareOp::Lt => ord.is_lt(),
        CompareOp::Le => ord.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE};
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn path(s: &str) -> AttrPath {
        attr_path(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn cmp(attr: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            path: path(attr),
            op,
            value,
        }
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn err(s: &str) -> Invalid {
        parse(s).expect_err(s)
    }

    fn user() -> Value {
        json!({
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "Bjensen@Example.com",
            "externalId": "Ext-1",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "title": "",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-05-01T12:00:00+02:00"},
            ENTERPRISE_USER_SCHEMA: {"department": "Sales", "manager": {"value": "m-1"}}
        })
    }

    fn m(s: &str) -> bool {
        matches(&p(s), &user(), &USER_RESOURCE)
    }

    #[test]
    fn a_simple_comparison_parses_into_path_operator_and_value() {
        assert_eq!(
            p(r#"userName eq "bjensen""#),
            cmp("userName", CompareOp::Eq, json!("bjensen"))
        );
    }

    #[tokio::test]
    async fn authentik_alone_may_leave_a_value_unquoted() {
        use crate::client::{Idp, scoped};
        let unquoted = "userName eq alice";
        assert_eq!(err(unquoted).kind, Kind::InvalidFilter);
        let parsed = scoped(Some(Idp::Authentik), async { parse(unquoted) }).await;
        assert_eq!(parsed, Ok(cmp("userName", CompareOp::Eq, json!("alice"))));
        // Digits are a name too; the keywords keep their meaning.
        let digits = scoped(Some(Idp::Authentik), async {
            parse("userName eq 1234 and active eq true")
        })
        .await;
        assert_eq!(
            digits,
            Ok(and(
                cmp("userName", CompareOp::Eq, json!("1234")),
                cmp("active", CompareOp::Eq, json!(true))
            ))
        );
        let other = scoped(Some(Idp::Okta), async { parse(unquoted) }).await;
        assert!(other.is_err());
    }

    #[test]
    fn operators_and_logical_words_are_case_insensitive() {
        assert_eq!(
            p(r#"userName EQ "a" And title Pr OR NOT (active eq TRUE)"#),
            or(
                and(
                    cmp("userName", CompareOp::Eq, json!("a")),
                    Filter::Present(path("title"))
                ),
                Filter::Not(Box::new(cmp("active", CompareOp::Eq, json!(true))))
            )
        );
        for op in CompareOp::ALL {
            let upper = format!("title {} \"x\"", op.as_str().to_uppercase());
            assert_eq!(p(&upper), cmp("title", op, json!("x")));
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            p("a pr or b pr and c pr"),
            or(
                Filter::Present(path("a")),
                and(Filter::Present(path("b")), Filter::Present(path("c")))
            )
        );
        assert_eq!(
            p("a pr and b pr or c pr"),
            or(
                and(Filter::Present(path("a")), Filter::Present(path("b"))),
                Filter::Present(path("c"))
            )
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            p("(a pr or b pr) and c pr"),
            and(
                or(Filter::Present(path("a")), Filter::Present(path("b"))),
                Filter::Present(path("c"))
            )
        );
        assert_eq!(p("((a pr))"), Filter::Present(path("a")));
    }

    #[test]
    fn not_needs_parentheses_and_otherwise_is_an_attribute_name() {
        assert_eq!(p("not(a pr)"), Filter::Not(Box::new(Filter::Present(path("a")))));
        assert_eq!(p("not pr"), Filter::Present(path("not")));
        assert_eq!(err("not a pr").kind, Kind::InvalidFilter);
    }

    #[test]
    fn value_paths_hold_filters_relative_to_each_element() {
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@example.com"] or userName sw "b""#),
            or(
                Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(and(
                        cmp("type", CompareOp::Eq, json!("work")),
                        cmp("value", CompareOp::Co, json!("@example.com"))
                    )),
                },
                cmp("userName", CompareOp::Sw, json!("b"))
            )
        );
    }

    #[test]
    fn brackets_do_not_nest_and_take_no_sub_attribute_in_filters() {
        assert!(
            err(r#"emails[type[value eq "x"] pr]"#)
                .detail
                .contains("cannot be nested")
        );
        assert!(
            err(r#"emails[type eq "work"].value eq "x""#)
                .detail
                .contains("only valid in PATCH paths")
        );
        assert_eq!(err(r#"name.givenName[value eq "x"]"#).kind, Kind::InvalidFilter);
        assert!(err(r#"emails[type eq "work""#).detail.contains("expected ']'"));
    }

    #[test]
    fn urn_qualified_paths_split_at_the_last_colon() {
        assert_eq!(
            path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            AttrPath {
                urn: Some(ENTERPRISE_USER_SCHEMA.into()),
                attr: "manager".into(),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:userName").map(|p| p.urn),
            Ok(Some("urn:ietf:params:scim:schemas:core:2.0:User".into()))
        );
        assert_eq!(
            parse_attr_path("meta.lastModified"),
            Ok(AttrPath {
                urn: None,
                attr: "meta".into(),
                sub: Some("lastModified".into())
            })
        );
        assert_eq!(parse_attr_path("$ref").map(|p| p.attr), Ok("$ref".into()));
    }

    #[test]
    fn malformed_attribute_paths_are_invalid_paths() {
        for bad in [
            "",
            "1abc",
            "a.b.c",
            "foo:bar",
            "urn:",
            "name.",
            "a b",
            "$other",
            "emails[x]",
        ] {
            assert_eq!(
                parse_attr_path(bad).map_err(|e| e.kind),
                Err(Kind::InvalidPath),
                "{bad}"
            );
        }
    }

    #[test]
    fn string_literals_are_json_strings_with_escapes_and_unicode() {
        assert_eq!(
            p(r#"displayName eq "say \"hi\" \\ caf\u00e9 日本""#),
            cmp("displayName", CompareOp::Eq, json!("say \"hi\" \\ café 日本"))
        );
        assert!(
            err(r#"displayName eq "bad \q escape""#)
                .detail
                .contains("invalid string")
        );
    }

    #[test]
    fn numbers_booleans_and_null_are_literals() {
        assert_eq!(p("x gt -1.5e2"), cmp("x", CompareOp::Gt, json!(-150.0)));
        assert_eq!(p("x eq 42"), cmp("x", CompareOp::Eq, json!(42)));
        assert_eq!(p("active eq False"), cmp("active", CompareOp::Eq, json!(false)));
        assert_eq!(p("title eq null"), cmp("title", CompareOp::Eq, Value::Null));
        assert!(err("title eq bareword").detail.contains("expected a value"));
    }

    #[test]
    fn numbers_render_back_to_the_same_value() {
        // Found by fuzzing: this integer came back from rendering as another float.
        let f = p(
            "x eq 773777777777766666666666666666666666666666666660000000000000000000000000000000000000000000",
        );
        assert_eq!(p(&f.to_string()), f);
        for n in [
            "0.1",
            "1e-7",
            "-2.5E+300",
            "12345678901234567890",
            "9007199254740993",
        ] {
            let f = p(&format!("x eq {n}"));
            assert_eq!(p(&f.to_string()), f, "{n}");
        }
    }

    #[test]
    fn an_escaped_nul_in_a_string_is_an_invalid_filter_that_says_so() {
        for f in [
            r#"userName eq "\u0000""#,
            r#"userName eq "a\u0000b""#,
            r#"emails[value co "\u0000"]"#,
        ] {
            let e = err(f);
            assert_eq!(e.kind, Kind::InvalidFilter, "{f}");
            assert!(e.detail.contains("NUL character"), "{f}: {}", e.detail);
        }
        assert!(err(r#"userName eq "\u0000""#).detail.contains("position 13"));
        // In a PATCH path it is a path error, like any other bad filter there.
        let e = parse_patch_path(r#"members[value eq "\u0000"]"#).unwrap_err();
        assert_eq!(e.kind, Kind::InvalidPath);
        // Other escaped control characters can be stored, so they still parse.
        assert!(parse(r#"title eq "\u0007""#).is_ok());
    }

    #[test]
    fn an_unterminated_string_is_an_invalid_filter_with_its_position() {
        let e = err(r#"userName eq "bjensen"#);
        assert_eq!(e.kind, Kind::InvalidFilter);
        assert!(
            e.detail.contains("unterminated string") && e.detail.contains("position 13"),
            "{}",
            e.detail
        );
        assert_eq!(
            err(r#"userName eq "ends in backslash\"#).kind,
            Kind::InvalidFilter
        );
    }

    #[test]
    fn errors_say_what_was_expected_and_where() {
        let e = err(r#"userName equals "x""#);
        assert!(
            e.detail.contains("expected an operator") && e.detail.contains("position 10"),
            "{}",
            e.detail
        );
        assert!(err("userName eq").detail.contains("found the end"));
        assert!(
            err(r#"userName eq "x" title pr"#)
                .detail
                .contains("expected 'and', 'or'")
        );
        assert!(err("(a pr").detail.contains("expected ')'"));
        assert!(err("a pr)").detail.contains("found ')'"));
        assert!(err("").detail.contains("expected an attribute name"));
        assert!(
            err(r#"userName eq "x" and"#)
                .detail
                .contains("expected an attribute name")
        );
    }

    #[test]
    fn hostile_nesting_and_length_are_rejected_without_overflowing_the_stack() {
        let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).detail.contains("bytes long"));
        let deep = format!("{}a pr{}", "(".repeat(1_000), ")".repeat(1_000));
        assert!(err(&deep).detail.contains("nesting deeper"));
        let nots = format!("{}a pr{}", "not (".repeat(500), ")".repeat(500));
        assert!(err(&nots).detail.contains("nesting deeper"));
        assert!(parse(&format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH))).is_ok());
        let long_chain = vec!["a pr"; 400].join(" or ");
        assert!(matches!(parse(&long_chain), Ok(Filter::Or(..))));
        assert!(
            err(&"x".repeat(MAX_FILTER_BYTES + 1))
                .detail
                .contains("bytes long")
        );
    }

    #[test]
    fn errors_quote_long_input_cut_short() {
        let e = parse_patch_path(&format!("{} pr", "x".repeat(3000))).expect_err("not a path");
        assert!(e.detail.len() < 400, "{}", e.detail);
        let e = err(&format!("{} equals 1", "y".repeat(3000)));
        assert!(e.detail.len() < 400 && e.detail.contains("yyy…"), "{}", e.detail);
    }

    #[test]
    fn display_renders_filters_that_parse_back_to_the_same_tree() {
        for s in [
            r#"userName eq "bjensen""#,
            "a pr or b pr and c pr",
            "(a pr or b pr) and c pr",
            "a pr and (b pr and c pr)",
            "a pr or (b pr or c pr)",
            r#"not (emails[type eq "work" or not (value ew "@x")]) and x gt 1.5"#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m\"1\u0007""#,
            "meta.lastModified ge \"2024-01-01T00:00:00Z\" and title eq null and active ne false",
        ] {
            let once = p(s);
            assert_eq!(p(&once.to_string()), once, "{s} rendered as {once}");
        }
        assert_eq!(
            p("A EQ \"x\" AND NOT(b Pr)").to_string(),
            r#"A eq "x" and not (b pr)"#
        );
    }

    #[test]
    fn attribute_names_match_case_insensitively_and_case_exact_values_do_not() {
        assert!(m(r#"USERNAME eq "bjensen@example.com""#));
        assert!(m(r#"name.GIVENNAME eq "barbara""#));
        // id and externalId are caseExact.
        assert!(m(r#"externalId eq "Ext-1""#));
        assert!(!m(r#"externalId eq "ext-1""#));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
        // Unknown attributes compare case-insensitively.
        let doc = json!({"nickname_custom": "Babs"});
        assert!(matches(&p(r#"nickname_custom eq "BABS""#), &doc, &USER_RESOURCE));
    }

    #[test]
    fn string_operators_compare_text() {
        assert!(m(r#"userName sw "BJENSEN""#));
        assert!(m(r#"userName ew "example.com""#));
        assert!(m(r#"userName co "@exa""#));
        assert!(!m(r#"userName co "nobody""#));
        assert!(m(r#"userName gt "a" and userName lt "c""#));
        assert!(m(
            r#"userName ge "bjensen@example.com" and userName le "BJENSEN@EXAMPLE.COM""#
        ));
    }

    #[test]
    fn multi_valued_attributes_match_when_any_element_does() {
        assert!(m(r#"emails.type eq "home""#));
        assert!(m(r#"emails.value ew "jensen.org""#));
        assert!(!m(r#"emails.type eq "other""#));
        // Without a sub-attribute, a complex value is compared by its `value`.
        assert!(m(r#"emails eq "babs@jensen.org""#));
        assert!(m(r#"emails co "example""#));
    }

    #[test]
    fn each_element_of_a_multi_valued_attribute_is_compared_on_its_own() {
        // The home email has no `primary`: for it, primary is unassigned, and ne holds.
        assert!(m("emails.primary ne true"));
        assert_eq!(m("emails.primary ne true"), m("emails[primary ne true]"));
        let one = json!({"emails": [{"value": "a@x", "primary": true}]});
        assert!(!matches(&p("emails.primary ne true"), &one, &USER_RESOURCE));
        // No emails at all is the unassigned state (RFC 7643 §2.5), as for a single value.
        let none = json!({"emails": []});
        assert!(matches(&p(r#"emails.type ne "work""#), &none, &USER_RESOURCE));
        assert!(matches(&p(r#"emails ne "a@x""#), &json!({}), &USER_RESOURCE));
        assert!(!matches(&p(r#"emails.type eq "work""#), &none, &USER_RESOURCE));
    }

    #[test]
    fn value_path_filters_must_hold_for_one_and_the_same_element() {
        assert!(m(r#"emails[type eq "work" and value co "example"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "example"]"#));
        assert!(m(r#"emails[primary eq true] and userName pr"#));
        assert!(!m(r#"emails[primary eq true and type eq "home"]"#));
    }

    #[test]
    fn extension_and_core_urns_resolve_case_insensitively() {
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#
        ));
        assert!(m(
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:manager.value eq "m-1""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m-1""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#
        ));
        assert!(!m(r#"urn:example:other:department eq "sales""#));
        // An extension attribute is not a core one.
        assert!(!m(r#"department eq "sales""#));
    }

    #[test]
    fn date_times_compare_as_instants() {
        // lastModified is 10:00 UTC, written with a +02:00 offset.
        assert!(m(r#"meta.lastModified eq "2024-05-01T10:00:00Z""#));
        assert!(m(r#"meta.lastModified gt "2024-05-01T09:59:59Z""#));
        assert!(m(r#"meta.lastModified lt "2024-05-01T11:00:00+00:30""#));
        assert!(!m(r#"meta.lastModified gt "2024-05-01T11:00:00+00:30""#));
        assert!(m(r#"meta.created ge "2023-12-31T23:00:00-01:00""#));
        // Not a date: no match either way.
        assert!(!m(r#"meta.lastModified gt "yesterday""#));
        assert!(!m(r#"meta.lastModified ne "yesterday""#));
    }

    #[test]
    fn presence_means_a_non_empty_value() {
        assert!(m("userName pr"));
        assert!(m("name pr"));
        assert!(m("emails pr"));
        assert!(m("emails.primary pr"));
        assert!(!m("title pr"));
        assert!(!m("nickName pr"));
        let empty = json!({"emails": [], "name": {}, "x": null});
        for s in ["emails pr", "name pr", "x pr", "emails.value pr"] {
            assert!(!matches(&p(s), &empty, &USER_RESOURCE), "{s}");
        }
    }

    #[test]
    fn unassigned_attributes_are_not_equal_to_anything() {
        assert!(m(r#"nickName ne "x""#));
        assert!(!m(r#"nickName eq "x""#));
        assert!(!m(r#"nickName gt "a""#));
        assert!(m("nickName eq null"));
        assert!(!m("userName eq null"));
        assert!(m("userName ne null"));
        assert!(m(r#"urn:example:unknown:thing ne "x""#));
    }

    #[test]
    fn booleans_only_support_eq_and_ne_and_mixed_types_never_match() {
        assert!(m("active eq true"));
        assert!(m("active ne false"));
        assert!(!m("active gt false"));
        assert!(!m(r#"active eq "true""#));
        assert!(!m(r#"userName eq 5"#));
        assert!(!m(r#"userName ne 5"#));
    }

    #[test]
    fn numbers_compare_numerically() {
        let doc = json!({"level": 10});
        assert!(matches(&p("level gt 9"), &doc, &USER_RESOURCE));
        assert!(matches(&p("level eq 10.0"), &doc, &USER_RESOURCE));
        assert!(!matches(&p("level lt 9.5"), &doc, &USER_RESOURCE));
        assert!(!matches(&p("level co 1"), &doc, &USER_RESOURCE));
    }

    #[test]
    fn logic_combines_matches() {
        assert!(m(r#"userName eq "x" or active eq true"#));
        assert!(!m(r#"userName eq "x" and active eq true"#));
        assert!(m(r#"not (userName eq "x")"#));
        assert!(m(
            r#"(userName eq "x" or name.familyName eq "jensen") and not (title pr)"#
        ));
    }

    #[test]
    fn patch_paths_may_end_in_a_sub_attribute_after_the_filter() {
        let pp = parse_patch_path(r#"emails[type eq "work"].value"#).expect("path");
        assert_eq!(pp.attr, path("emails"));
        assert_eq!(pp.filter, Some(cmp("type", CompareOp::Eq, json!("work"))));
        assert_eq!(pp.sub.as_deref(), Some("value"));
        assert_eq!(pp.to_string(), r#"emails[type eq "work"].value"#);

        let pp = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .expect("path");
        assert_eq!(
            (pp.attr.urn.as_deref(), pp.attr.attr.as_str()),
            (Some(ENTERPRISE_USER_SCHEMA), "manager")
        );
        let pp = parse_patch_path("name.givenName").expect("path");
        assert_eq!(
            (pp.attr.sub.as_deref(), pp.filter, pp.sub),
            (Some("givenName"), None, None)
        );
        let pp = parse_patch_path(r#"members[value eq "2819c223"]"#).expect("path");
        assert!(pp.filter.is_some() && pp.sub.is_none());
    }

    #[test]
    fn bad_patch_paths_are_invalid_paths() {
        for bad in [
            "",
            "emails[",
            r#"emails[type eq "work"]value"#,
            r#"emails[type eq "work"].value.x"#,
            r#"emails[type eq "work"] extra"#,
            r#"name.givenName[value eq "x"]"#,
            r#"emails[type[value eq "x"] pr]"#,
            r#"emails[type eq "work"#,
            "emails eq",
            "(emails)",
        ] {
            assert_eq!(
                parse_patch_path(bad).map_err(|e| e.kind),
                Err(Kind::InvalidPath),
                "{bad}"
            );
        }
    }
}
