//! proptest strategies for SCIM filters and for the users and groups they run over. Filters are
//! generated as a small tree and rendered to filter text against the ids of the resources
//! actually stored, so that `id eq "..."` and `members[value eq "..."]` can hit. Attribute
//! values for both sides come from one small pool, so comparisons match often enough to mean
//! something; the pool holds case variants, LIKE metacharacters and non-ASCII letters.

use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

/// Strings stored in users and groups and compared with in filters.
pub const WORDS: &[&str] = &[
    "ada",
    "Ada",
    "ADA",
    "adam",
    "bob",
    "Bob",
    "ada@x.test",
    "Ada@X.test",
    "bob@y.test",
    "x",
    "é",
    "É",
    "Émile",
    "émile",
    "a_b",
    "a%b",
    "a\\b",
    "work",
    "Work",
    "home",
    "other",
    "R&D",
    "r&d",
    "Öl",
    "öl",
    "zz",
    " ",
    "a b",
];

/// Numbers stored in a tenant's integer attribute and compared with: as text, 9 > 10 > 100.
pub const NUMBERS: &[i64] = &[-1, 0, 9, 10, 99, 100, 1000];

/// A tenant's own extension, defined in the pushdown tests (see `EXTENSION`).
pub const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

/// Its schema document.
pub fn extension() -> serde_json::Value {
    serde_json::json!({"attributes": [
        {"name": "location", "type": "string"},
        {"name": "badge", "type": "integer"},
        {"name": "skills", "type": "string", "multiValued": true},
    ]})
}

/// Instants stored as `meta.created`/`meta.lastModified` (with sub-millisecond jitter added) and
/// compared with in filters (in several renderings).
pub const INSTANTS: &[&str] = &[
    "2011-05-13T04:42:34Z",
    "2020-01-01T00:00:00Z",
    "2024-02-29T23:59:59.500Z",
    "2024-03-01T09:00:00Z",
    "2025-12-31T12:00:00.999Z",
];

pub fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(WORDS).prop_map(str::to_owned),
        // Prefixes and suffixes make sw/ew/co hit.
        2 => (select(WORDS), 0usize..4, any::<bool>()).prop_map(|(w, n, front)| {
            let chars: Vec<char> = w.chars().collect();
            let n = n.min(chars.len());
            if front { chars[..n].iter().collect() } else { chars[chars.len() - n..].iter().collect() }
        }),
        1 => "[a-zA-Z@._%\\\\é ]{0,4}",
    ]
}

/// What kind of value an attribute compares with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Str,
    /// An integer (a tenant's own attribute).
    Num,
    Bool,
    Date,
    UserId,
    GroupId,
}

#[derive(Debug, Clone)]
pub enum GenValue {
    Str(String),
    Bool(bool),
    /// `"true"`: a string where a boolean is expected.
    BoolStr(bool),
    /// One of [`INSTANTS`], rendered in one of several equivalent or nearby forms.
    Date(usize, u8),
    /// The id of the n-th stored resource (modulo), exact, upper-cased, or its first 8 digits.
    Id(Kind, usize, u8),
    Num(i64),
    Null,
}

fn value_for(kind: Kind) -> BoxedStrategy<GenValue> {
    let odd = prop_oneof![
        any::<i64>().prop_map(|n| GenValue::Num(n % 1000)),
        Just(GenValue::Null),
        word().prop_map(GenValue::Str),
    ];
    match kind {
        Kind::Str => prop_oneof![
            20 => word().prop_map(GenValue::Str),
            1 => odd,
        ]
        .boxed(),
        Kind::Num => prop_oneof![
            20 => select(NUMBERS).prop_map(GenValue::Num),
            1 => odd,
        ]
        .boxed(),
        Kind::Bool => prop_oneof![
            20 => any::<bool>().prop_map(GenValue::Bool),
            1 => any::<bool>().prop_map(GenValue::BoolStr),
            1 => odd,
        ]
        .boxed(),
        Kind::Date => prop_oneof![
            20 => (0..INSTANTS.len(), 0u8..6).prop_map(|(i, form)| GenValue::Date(i, form)),
            1 => odd,
        ]
        .boxed(),
        Kind::UserId | Kind::GroupId => prop_oneof![
            20 => (any::<usize>(), 0u8..4).prop_map(move |(n, form)| GenValue::Id(kind, n, form)),
            1 => odd,
        ]
        .boxed(),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Op {
    Cmp(&'static str),
    Pr,
}

/// Operators for a kind of attribute: mostly the ones that apply to it, sometimes the others
/// (which the SQL refuses), so that whole trees are rarely refused for one odd leaf.
fn op(kind: Kind) -> BoxedStrategy<Op> {
    const ALL: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    let fitting: &'static [&'static str] = match kind {
        Kind::Bool => &["eq", "ne"],
        Kind::Date | Kind::Num => &["eq", "ne", "gt", "ge", "lt", "le"],
        Kind::Str | Kind::UserId | Kind::GroupId => ALL,
    };
    prop_oneof![
        16 => select(fitting).prop_map(Op::Cmp),
        1 => select(ALL).prop_map(Op::Cmp),
        2 => Just(Op::Pr),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
pub enum GenFilter {
    And(Box<GenFilter>, Box<GenFilter>),
    Or(Box<GenFilter>, Box<GenFilter>),
    Not(Box<GenFilter>),
    /// `path op value` or `path pr`; `shout` upper-cases the operator.
    Attr {
        path: &'static str,
        op: Op,
        value: GenValue,
        shout: bool,
    },
    /// `multi[...]` over the sub-attributes of the grammar's multi-valued attribute.
    ValuePath(&'static str, Box<GenFilter>),
}

/// Which attributes a filter may name.
pub struct Grammar {
    pub paths: &'static [(&'static str, Kind)],
    /// The multi-valued attribute value paths are generated for, and its sub-attributes.
    pub multi: &'static str,
    pub subs: &'static [(&'static str, Kind)],
}

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

macro_rules! concat_ent {
    ($attr:literal) => {
        concat!(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            $attr
        )
    };
}

pub const USERS: Grammar = Grammar {
    paths: &[
        ("userName", Kind::Str),
        ("USERNAME", Kind::Str),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName", Kind::Str),
        ("externalId", Kind::Str),
        ("id", Kind::UserId),
        ("active", Kind::Bool),
        ("title", Kind::Str),
        ("displayName", Kind::Str),
        ("nickName", Kind::Str),
        ("name", Kind::Str),
        ("name.givenName", Kind::Str),
        ("name.familyName", Kind::Str),
        ("emails", Kind::Str),
        ("emails.value", Kind::Str),
        ("emails.type", Kind::Str),
        ("emails.primary", Kind::Bool),
        ("emails.display", Kind::Str),
        (concat_ent!("department"), Kind::Str),
        (concat_ent!("manager"), Kind::Str),
        (concat_ent!("manager.value"), Kind::Str),
        (
            concat!(
                "urn:ietf:params:scim:schemas:extension:acme:2.0:User:",
                "location"
            ),
            Kind::Str,
        ),
        (
            concat!("urn:ietf:params:scim:schemas:extension:acme:2.0:User:", "badge"),
            Kind::Num,
        ),
        (
            concat!("urn:ietf:params:scim:schemas:extension:acme:2.0:User:", "skills"),
            Kind::Str,
        ),
        ("meta.created", Kind::Date),
        ("meta.lastModified", Kind::Date),
    ],
    multi: "emails",
    subs: &[
        ("value", Kind::Str),
        ("type", Kind::Str),
        ("primary", Kind::Bool),
        ("display", Kind::Str),
    ],
};

pub const GROUPS: Grammar = Grammar {
    paths: &[
        ("displayName", Kind::Str),
        ("externalId", Kind::Str),
        ("id", Kind::GroupId),
        ("members", Kind::UserId),
        ("members.value", Kind::UserId),
        ("members.display", Kind::Str),
        ("members.type", Kind::Str),
        ("meta.created", Kind::Date),
        ("meta.lastModified", Kind::Date),
    ],
    multi: "members",
    subs: &[
        ("value", Kind::UserId),
        ("display", Kind::Str),
        ("type", Kind::Str),
    ],
};

fn attr(paths: &'static [(&'static str, Kind)]) -> impl Strategy<Value = GenFilter> {
    (select(paths), any::<bool>()).prop_flat_map(|((path, kind), shout)| {
        (op(kind), value_for(kind)).prop_map(move |(op, value)| GenFilter::Attr {
            path,
            op,
            value,
            shout,
        })
    })
}

fn combine(leaf: BoxedStrategy<GenFilter>, depth: u32) -> BoxedStrategy<GenFilter> {
    leaf.prop_recursive(depth, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| GenFilter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| GenFilter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| GenFilter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

pub fn filter(grammar: &'static Grammar) -> BoxedStrategy<GenFilter> {
    let element = combine(attr(grammar.subs).boxed(), 2);
    let multi = grammar.multi;
    let leaf = prop_oneof![
        4 => attr(grammar.paths),
        1 => element.prop_map(move |f| GenFilter::ValuePath(multi, Box::new(f))),
    ];
    combine(leaf.boxed(), 3)
}

/// The ids filters may name.
pub struct Ids<'a> {
    pub users: &'a [Uuid],
    pub groups: &'a [Uuid],
}

impl GenValue {
    fn render(&self, ids: &Ids) -> String {
        match self {
            GenValue::Str(s) => json_string(s),
            GenValue::Bool(b) => b.to_string(),
            GenValue::BoolStr(b) => format!("\"{b}\""),
            GenValue::Num(n) => n.to_string(),
            GenValue::Null => "null".into(),
            GenValue::Date(i, form) => json_string(&date_form(INSTANTS[*i % INSTANTS.len()], *form)),
            GenValue::Id(kind, n, form) => {
                let pool = if *kind == Kind::GroupId {
                    ids.groups
                } else {
                    ids.users
                };
                let Some(id) = pool.get(n % pool.len().max(1)) else {
                    return json_string("00000000-0000-0000-0000-000000000000");
                };
                let id = id.to_string();
                json_string(&match form {
                    0 => id,
                    1 => id.to_uppercase(),
                    2 => id[..8].to_owned(),
                    _ => format!("{{{id}}}"),
                })
            }
        }
    }
}

/// The same instant in another rendering (offset, precision), or one millisecond off.
pub fn date_form(instant: &str, form: u8) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(instant).expect("instant");
    let utc = t.with_timezone(&chrono::Utc);
    match form {
        0 => instant.to_owned(),
        1 => utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        2 => utc
            .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("offset"))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        3 => (utc + chrono::Duration::milliseconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        4 => (utc - chrono::Duration::milliseconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        _ => utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl GenFilter {
    /// Filter text, with parentheses around every combination (precedence is the parser's
    /// business, tested by the tables; here the tree must survive as generated).
    pub fn render(&self, ids: &Ids) -> String {
        match self {
            GenFilter::And(l, r) => format!("({} and {})", l.render(ids), r.render(ids)),
            GenFilter::Or(l, r) => format!("({} or {})", l.render(ids), r.render(ids)),
            GenFilter::Not(f) => format!("not ({})", f.render(ids)),
            GenFilter::Attr {
                path,
                op: Op::Pr,
                shout,
                ..
            } => {
                format!("{path} {}", if *shout { "PR" } else { "pr" })
            }
            GenFilter::Attr {
                path,
                op: Op::Cmp(op),
                value,
                shout,
            } => {
                let op = if *shout {
                    op.to_uppercase()
                } else {
                    (*op).to_owned()
                };
                format!("{path} {op} {}", value.render(ids))
            }
            GenFilter::ValuePath(multi, f) => format!("{multi}[{}]", f.render(ids)),
        }
    }
}

/// A user as generated; [`GenUser::body`] is what an IdP would POST.
#[derive(Debug, Clone)]
pub struct GenUser {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: Option<bool>,
    pub title: Option<String>,
    pub display_name: Option<String>,
    pub nick_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<(Option<String>, Option<String>, Option<bool>)>,
    pub department: Option<String>,
    pub manager: Option<String>,
    /// The tenant's own attributes.
    pub location: Option<String>,
    pub badge: Option<i64>,
    pub skills: Vec<String>,
    pub created: usize,
    pub last_modified: usize,
    /// Microseconds added to both instants: the database keeps them, `meta` does not show them.
    pub jitter_us: i64,
}

pub fn user() -> impl Strategy<Value = GenUser> {
    let opt = || proptest::option::weighted(0.6, word());
    let email = (
        opt(),
        proptest::option::of(select(&["work", "home", "Work", "other"][..]).prop_map(str::to_owned)),
        proptest::option::of(any::<bool>()),
    );
    (
        (
            word(),
            opt(),
            proptest::option::of(any::<bool>()),
            opt(),
            opt(),
            opt(),
        ),
        (opt(), opt(), proptest::collection::vec(email, 0..3), opt(), opt()),
        (
            0..INSTANTS.len(),
            0..INSTANTS.len(),
            select(&[0i64, 250, 999][..]),
        ),
        (
            opt(),
            proptest::option::weighted(0.6, select(NUMBERS)),
            proptest::collection::vec(word(), 0..3),
        ),
    )
        .prop_map(
            |(
                (user_name, external_id, active, title, display_name, nick_name),
                (given_name, family_name, emails, department, manager),
                (created, last_modified, jitter_us),
                (location, badge, skills),
            )| GenUser {
                user_name,
                external_id,
                active,
                title,
                display_name,
                nick_name,
                given_name,
                family_name,
                emails,
                department,
                manager,
                location,
                badge,
                skills,
                created,
                last_modified,
                jitter_us,
            },
        )
}

impl GenUser {
    pub fn body(&self) -> serde_json::Value {
        let mut primary_given = false;
        let emails: Vec<serde_json::Value> = self
            .emails
            .iter()
            .map(|(value, ty, primary)| {
                // At most one primary, or the normaliser refuses the user.
                let primary = primary.filter(|p| !*p || !primary_given);
                primary_given |= primary == Some(true);
                serde_json::json!({"value": value, "type": ty, "primary": primary})
            })
            .collect();
        serde_json::json!({
            "userName": self.user_name,
            "externalId": self.external_id,
            "active": self.active,
            "title": self.title,
            "displayName": self.display_name,
            "nickName": self.nick_name,
            "name": {"givenName": self.given_name, "familyName": self.family_name},
            "emails": emails,
            ENT: {"department": self.department, "manager": self.manager},
            ACME: {"location": self.location, "badge": self.badge, "skills": self.skills},
        })
    }
}

#[derive(Debug, Clone)]
pub struct GenGroup {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Indexes into the users of the case (modulo).
    pub members: Vec<usize>,
    pub created: usize,
    pub jitter_us: i64,
}

pub fn group() -> impl Strategy<Value = GenGroup> {
    (
        word(),
        proptest::option::weighted(0.5, word()),
        proptest::collection::vec(any::<usize>(), 0..4),
        0..INSTANTS.len(),
        select(&[0i64, 250, 999][..]),
    )
        .prop_map(
            |(display_name, external_id, members, created, jitter_us)| GenGroup {
                display_name,
                external_id,
                members,
                created,
                jitter_us,
            },
        )
}
