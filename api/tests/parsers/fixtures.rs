//! The directory every table-driven case runs against: six users and four groups, given as the
//! bodies an IdP would POST, normalised the way the api stores them and rendered the way it
//! serves them. The same fixtures are loaded into Postgres by the pushdown tests, so a filter
//! case means the same thing in memory and in SQL.

use chrono::{DateTime, Utc};
use scim_api::scim::meta::Meta;
use scim_api::scim::resource;
use scim_api::scim::schema::{ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, USER_RESOURCE};
use scim_api::scim::{group, user};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub const BASE_URL: &str = "https://scim.example.test/scim/v2";

pub struct FixtureUser {
    pub name: &'static str,
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// As stored: normalised, without id and meta.
    pub doc: Map<String, Value>,
}

impl FixtureUser {
    pub fn meta(&self) -> Meta {
        Meta {
            id: self.id,
            created: self.created,
            last_modified: self.last_modified,
            version: 1,
            revision: 1,
        }
    }

    /// As served: what a filter is evaluated against.
    pub fn rendered(&self) -> Value {
        user::render(&self.doc, &self.meta(), BASE_URL)
    }
}

pub struct FixtureGroup {
    pub name: &'static str,
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub doc: Map<String, Value>,
    /// Names of fixture users.
    pub members: &'static [&'static str],
}

impl FixtureGroup {
    pub fn meta(&self) -> Meta {
        Meta {
            id: self.id,
            created: self.created,
            last_modified: self.last_modified,
            version: 1,
            revision: 1,
        }
    }

    pub fn rendered(&self, users: &[FixtureUser]) -> Value {
        let members = self
            .members
            .iter()
            .map(|name| {
                let u = user_named(users, name);
                let user_name = user::user_name(&u.doc).unwrap_or_default();
                scim_api::directory::memberships::Member {
                    key: scim_api::directory::memberships::Key::User(u.id),
                    display: Some(user_name.to_owned()),
                    sent_type: None,
                }
                .render(BASE_URL)
            })
            .collect();
        group::render(&self.doc, &self.meta(), BASE_URL, Some(members))
    }
}

pub fn user_named<'u>(users: &'u [FixtureUser], name: &str) -> &'u FixtureUser {
    users
        .iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("no fixture user {name}"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn id(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub const BJENSEN: &str = "2819c223-7f76-453a-919d-413861904646";
pub const JSMITH: &str = "26118915-6090-4610-87e4-49d8ca9f808d";
pub const ADA: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d1e00";
pub const GRACE: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d1e01";
pub const ASA: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d1e02";
pub const MIN: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d1e03";

fn stored(body: Value) -> Map<String, Value> {
    let doc = resource::normalize_attributes(&USER_RESOURCE, body.as_object().expect("an object"))
        .expect("fixture users are valid");
    user::validate(&doc, None).expect("fixture users are valid");
    doc
}

/// bjensen is RFC 7643 §8.2's full user; jsmith her manager; ada an Okta-provisioned contractor
/// whose manager is given by email; grace an Entra-style user with few attributes; åsa tests
/// Unicode case folding; min has nothing but a userName.
pub fn users() -> Vec<FixtureUser> {
    vec![
        FixtureUser {
            name: "bjensen",
            id: id(BJENSEN),
            created: at("2010-01-23T04:56:22Z"),
            last_modified: at("2011-05-13T04:42:34Z"),
            doc: stored(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "externalId": "701984",
                "userName": "bjensen@example.com",
                "name": {
                    "formatted": "Ms. Barbara J Jensen, III",
                    "familyName": "Jensen",
                    "givenName": "Barbara",
                    "middleName": "Jane",
                    "honorificPrefix": "Ms.",
                    "honorificSuffix": "III"
                },
                "displayName": "Babs Jensen",
                "nickName": "Babs",
                "profileUrl": "https://login.example.com/bjensen",
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"}
                ],
                "addresses": [
                    {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                     "region": "CA", "postalCode": "91608", "country": "USA", "primary": true},
                    {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
                     "region": "CA", "postalCode": "91608", "country": "USA"}
                ],
                "phoneNumbers": [
                    {"value": "555-555-5555", "type": "work"},
                    {"value": "555-555-4444", "type": "mobile"}
                ],
                "ims": [{"value": "someaimhandle", "type": "aim"}],
                "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
                "userType": "Employee",
                "title": "Tour Guide",
                "preferredLanguage": "en-US",
                "locale": "en-US",
                "timezone": "America/Los_Angeles",
                "active": true,
                "password": "t1meMa$heen",
                "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
                "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
                ENT: {
                    "employeeNumber": "701984",
                    "costCenter": "4130",
                    "organization": "Universal Studios",
                    "division": "Theme Park",
                    "department": "Tour Operations",
                    "manager": {"value": JSMITH, "$ref": format!("../Users/{JSMITH}"), "displayName": "John Smith"}
                }
            })),
        },
        FixtureUser {
            name: "jsmith",
            id: id(JSMITH),
            created: at("2009-06-01T12:00:00Z"),
            last_modified: at("2011-05-13T04:42:35Z"),
            doc: stored(json!({
                "userName": "JSmith@Example.com",
                "externalId": "ext-JS",
                "name": {"givenName": "John", "familyName": "Smith"},
                "displayName": "John Smith",
                "nickName": "JS_100%",
                "title": "Vice President",
                "userType": "Employee",
                "active": "True",
                "emails": [{"value": "jsmith@example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "555-555-0000", "type": "work", "primary": true}],
                ENT: {"employeeNumber": "100", "costCenter": "1000", "organization": "Universal Studios",
                      "department": "Executive"}
            })),
        },
        FixtureUser {
            name: "ada",
            id: id(ADA),
            created: at("2024-03-01T09:00:00Z"),
            last_modified: at("2024-03-01T09:00:00Z"),
            doc: stored(json!({
                "userName": "ada.lovelace@acme.test",
                "externalId": "00u1ada",
                "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
                "displayName": "Ada Lovelace",
                "nickName": "Countess",
                "title": "Analyst",
                "userType": "Contractor",
                "locale": "en-GB",
                "active": false,
                "emails": [
                    {"value": "ada@acme.test", "type": "work", "primary": true},
                    {"value": "ada@home.example", "type": "home"},
                    {"value": "Countess@Lovelace.example", "type": "other"}
                ],
                ENT: {"department": "R&D", "employeeNumber": "2", "manager": {"value": "jsmith@example.com"}}
            })),
        },
        FixtureUser {
            name: "grace",
            id: id(GRACE),
            created: at("2024-03-01T09:00:01Z"),
            // Finer than the milliseconds `meta` is rendered with, as the database stores it.
            last_modified: at("2025-01-01T00:00:00.000250Z"),
            doc: stored(json!({
                "userName": "GRACE@ACME.TEST",
                "name": {"givenName": "Grace", "familyName": "Hopper"},
                "nickName": "back\\slash",
                "active": true,
                "emails": [{"value": "grace@acme.test"}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile", "primary": true}],
                "roles": [{"value": "admiral"}]
            })),
        },
        FixtureUser {
            name: "asa",
            id: id(ASA),
            created: at("2025-06-30T23:59:59Z"),
            last_modified: at("2025-06-30T23:59:59Z"),
            doc: stored(json!({
                "userName": "Åsa.Öberg@Example.se",
                "externalId": "EXT-1",
                "displayName": "Åsa Öberg",
                "title": "Ingenjör",
                "active": false,
                "emails": [],
                ENT: {"department": "tour operations"}
            })),
        },
        FixtureUser {
            name: "min",
            id: id(MIN),
            created: at("2025-07-01T00:00:00Z"),
            last_modified: at("2025-07-01T00:00:00Z"),
            doc: stored(json!({"userName": "min"})),
        },
    ]
}

pub const ENG: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d2e00";
pub const OPS: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d2e01";
pub const EMPTY: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d2e02";
pub const NORD: &str = "0190f0a4-3c2e-7d5b-9a1e-6f4b2c8d2e03";

fn stored_group(body: Value) -> Map<String, Value> {
    let mut body = body;
    body["schemas"] = json!([GROUP_SCHEMA]);
    group::parse(&body).expect("fixture groups are valid").doc
}

pub fn groups() -> Vec<FixtureGroup> {
    vec![
        FixtureGroup {
            name: "eng",
            id: id(ENG),
            created: at("2020-01-01T00:00:00Z"),
            last_modified: at("2024-03-01T09:00:00Z"),
            doc: stored_group(json!({"displayName": "Engineering", "externalId": "okta-eng"})),
            members: &["bjensen", "jsmith", "ada"],
        },
        FixtureGroup {
            name: "ops",
            id: id(OPS),
            created: at("2021-01-01T00:00:00Z"),
            last_modified: at("2021-01-01T00:00:00Z"),
            doc: stored_group(json!({"displayName": "Tour Operations", "externalId": "00g1ops"})),
            members: &["bjensen"],
        },
        FixtureGroup {
            name: "empty",
            id: id(EMPTY),
            created: at("2022-01-01T00:00:00Z"),
            last_modified: at("2022-01-01T00:00:00Z"),
            doc: stored_group(json!({"displayName": "Empty Group"})),
            members: &[],
        },
        FixtureGroup {
            name: "nord",
            id: id(NORD),
            created: at("2023-01-01T00:00:00Z"),
            last_modified: at("2025-01-01T00:00:00Z"),
            doc: stored_group(json!({"displayName": "Équipe Nord", "externalId": "EXT-1"})),
            members: &["asa"],
        },
    ]
}
