//! RFC 7644 §3.5.2 PATCH, table-driven: each case names the section it exercises, the operations
//! as an IdP sends them, and either what holds afterwards (JSON pointers into the stored
//! document) or the error. Every case also checks what must hold for all of them: a failing
//! PATCH leaves the resource untouched, a successful one leaves it in stored (normalised) form
//! with at most one primary value per attribute, and applying it twice changes nothing more.

use scim_api::scim::members::{self, Change, Sent};
use scim_api::scim::schema::{GROUP_RESOURCE, GROUP_SCHEMA, PATCH_OP_SCHEMA, ResourceSchema, USER_RESOURCE};
use scim_api::scim::{Kind, patch, resource};
use serde_json::{Map, Value, json};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

enum Expect {
    /// Applied; each pointer holds the value, `null` meaning "absent" (stored documents never
    /// hold nulls).
    Ok(Vec<(String, Value)>),
    Err(Kind),
}

struct Case {
    section: &'static str,
    /// The whole request body.
    body: Value,
    expect: Expect,
}

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
}

fn ok(section: &'static str, ops: Value, checks: &[(&str, Value)]) -> Case {
    Case {
        section,
        body: body(ops),
        expect: Expect::Ok(checks.iter().map(|(p, v)| ((*p).to_owned(), v.clone())).collect()),
    }
}

fn err(section: &'static str, ops: Value, kind: Kind) -> Case {
    Case {
        section,
        body: body(ops),
        expect: Expect::Err(kind),
    }
}

/// A pointer into the enterprise extension.
fn ent(rest: &str) -> String {
    format!("/{ENT}{rest}")
}

fn ok_ent(section: &'static str, ops: Value, checks: &[(&str, Value)]) -> Case {
    let mut case = ok(section, ops, &[]);
    case.expect = Expect::Ok(checks.iter().map(|(p, v)| (ent(p), v.clone())).collect());
    case
}

/// The user every case starts from, as stored (an Okta-provisioned user with the enterprise
/// extension).
pub fn stored_user() -> Map<String, Value> {
    resource::normalize(
        &USER_RESOURCE,
        &json!({
            "schemas": [CORE, ENT],
            "userName": "ada@x.com",
            "externalId": "00u1",
            "active": true,
            "displayName": "Ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "title": "Analyst",
            "emails": [
                {"value": "ada@x.com", "type": "work", "primary": true},
                {"value": "ada@home.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield", "primary": true}],
            ENT: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m-1"}}
        }),
    )
    .expect("the fixture is valid")
}

pub fn stored_group() -> Map<String, Value> {
    resource::normalize(
        &GROUP_RESOURCE,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng", "externalId": "okta-1"}),
    )
    .expect("the fixture is valid")
}

#[rustfmt::skip]
fn user_cases() -> Vec<Case> {
    let manager = format!("{ENT}:manager");
    let department = format!("{ENT}:department");
    vec![
        // §3.5.2.1 add
        ok("§3.5.2.1 add replaces a single value", json!([{"op": "add", "path": "title", "value": "Countess"}]), &[("/title", json!("Countess"))]),
        ok("§3.5.2.1 add to an unassigned attribute", json!([{"op": "add", "path": "nickName", "value": "Ada"}]), &[("/nickName", json!("Ada")), ("/title", json!("Analyst"))]),
        ok("§3.5.2.1 add a sub-attribute", json!([{"op": "add", "path": "name.middleName", "value": "King"}]), &[("/name/middleName", json!("King")), ("/name/givenName", json!("Ada"))]),
        ok("§3.5.2.1 add a complex value merges", json!([{"op": "add", "path": "name", "value": {"middleName": "K"}}]), &[("/name/middleName", json!("K")), ("/name/familyName", json!("Lovelace"))]),
        ok("§3.5.2.1 add one value to a multi-valued attribute", json!([{"op": "add", "path": "emails", "value": {"value": "o@x.com", "type": "other"}}]), &[("/emails/2/value", json!("o@x.com")), ("/emails/0/primary", json!(true))]),
        ok("§3.5.2.1 add values to a multi-valued attribute", json!([{"op": "add", "path": "emails", "value": [{"value": "p@x.com"}, {"value": "q@x.com"}]}]), &[("/emails/2/value", json!("p@x.com")), ("/emails/3/value", json!("q@x.com"))]),
        ok("§3.5.2.1 add a value already there changes nothing", json!([{"op": "add", "path": "emails", "value": [{"value": "ada@home.org", "type": "home"}]}]), &[("/emails/1/value", json!("ada@home.org")), ("/emails/2", Value::Null)]),
        ok("§3.5.2.1 add to an unassigned multi-valued attribute", json!([{"op": "add", "path": "roles", "value": {"value": "admin"}}]), &[("/roles/0/value", json!("admin"))]),
        ok("§3.5.2.1 add an empty list changes nothing", json!([{"op": "add", "path": "emails", "value": []}]), &[("/emails/1/value", json!("ada@home.org"))]),
        ok("§3.5.2.1 add a binary value", json!([{"op": "add", "path": "x509Certificates", "value": {"value": "MIIC"}}]), &[("/x509Certificates/0/value", json!("MIIC"))]),
        ok("§3.5.2.1 add without path", json!([{"op": "add", "value": {"nickName": "A", "title": "T"}}]), &[("/nickName", json!("A")), ("/title", json!("T"))]),
        ok("§3.5.2.1 add without path appends to multi-valued", json!([{"op": "add", "value": {"emails": [{"value": "z@x.com"}]}}]), &[("/emails/2/value", json!("z@x.com")), ("/emails/0/value", json!("ada@x.com"))]),
        ok("§3.5.2.1 add without path ignores unknown attributes", json!([{"op": "add", "value": {"shoeSize": 4, "title": "T"}}]), &[("/title", json!("T")), ("/shoeSize", Value::Null)]),
        ok("§3.5.2.1 add without path, URN key for a core attribute", json!([{"op": "add", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:displayName": "A2"}}]), &[("/displayName", json!("A2"))]),
        ok("§3.5.2.1 add without path, core attributes under the core URN", json!([{"op": "add", "value": {CORE: {"title": "T2"}}}]), &[("/title", json!("T2"))]),
        ok("§3.5.2.1 add, the core URN as path", json!([{"op": "add", "path": CORE, "value": {"title": "T3"}}]), &[("/title", json!("T3"))]),
        ok("§3.5.2.1 add, URN-qualified core path", json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title", "value": "X"}]), &[("/title", json!("X"))]),
        ok("§3.5.2.1 add, Entra dotted key without path", json!([{"op": "add", "value": {"name.givenName": "Augusta"}}]), &[("/name/givenName", json!("Augusta")), ("/name/familyName", json!("Lovelace"))]),
        ok("§3.5.2.1 add password: accepted, never stored", json!([{"op": "add", "path": "password", "value": "s3cret!"}]), &[("/password", Value::Null)]),
        ok("§3.5.2.1 add password without path: accepted, never stored", json!([{"op": "add", "value": {"password": "s3cret!"}}]), &[("/password", Value::Null)]),
        ok("§3.5.2.1 add the value just made primary", json!([{"op": "add", "path": "emails", "value": {"value": "n@x.com", "primary": true}}]), &[("/emails/2/primary", json!(true)), ("/emails/0/primary", Value::Null)]),
        ok("§3.5.2.1 add a primary to an attribute without one", json!([{"op": "add", "path": "phoneNumbers", "value": {"value": "+1 555 0199", "primary": true}}]), &[("/phoneNumbers/1/primary", json!(true)), ("/phoneNumbers/0/value", json!("+1 555 0100"))]),
        err("§3.5.2.1 add two primaries", json!([{"op": "add", "path": "emails", "value": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}]), Kind::InvalidValue),
        err("§3.5.2 add without value", json!([{"op": "add", "path": "title"}]), Kind::InvalidValue),
        err("§3.5.2.1 add without path needs an object", json!([{"op": "add", "value": "active"}]), Kind::InvalidValue),
        err("§3.5.2.1 add without path needs an object", json!([{"op": "add", "value": [{"title": "T"}]}]), Kind::InvalidValue),
        err("§3.5.2 add of the wrong type", json!([{"op": "add", "path": "userName", "value": {"value": "x"}}]), Kind::InvalidValue),
        err("§3.5.2 add of the wrong type", json!([{"op": "add", "path": "name.givenName", "value": 5}]), Kind::InvalidValue),
        err("§3.5.2 add of the wrong type", json!([{"op": "add", "path": "name", "value": "Ada"}]), Kind::InvalidValue),
        err("§3.5.2 add of the wrong type", json!([{"op": "add", "path": "emails", "value": [7]}]), Kind::InvalidValue),
        err("§3.5.2 add to an unknown attribute", json!([{"op": "add", "path": "shoeSize", "value": "9"}]), Kind::InvalidPath),
        err("§3.5.2 add to an unknown sub-attribute", json!([{"op": "add", "path": "name.shoeSize", "value": "9"}]), Kind::InvalidPath),
        err("§3.5.2 add to an unknown extension", json!([{"op": "add", "path": "urn:example:unknown:1.0:User:x", "value": "9"}]), Kind::InvalidPath),
        err("§3.5.2 add to a read-only attribute", json!([{"op": "add", "path": "id", "value": "x"}]), Kind::Mutability),
        err("§3.5.2 add to a read-only attribute", json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]), Kind::Mutability),
        err("§3.5.2 add to a read-only attribute", json!([{"op": "add", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z"}]), Kind::Mutability),
        err("§3.5.2 add to a read-only attribute", json!([{"op": "add", "path": "meta", "value": {"created": "2024-01-01T00:00:00Z"}}]), Kind::Mutability),
        // Extension (RFC 7643 §4.3) by URN-qualified path, whole extension, or keys without path
        ok_ent("§3.5.2.1 add an extension attribute by URN", json!([{"op": "add", "path": department, "value": "Maths"}]), &[("/department", json!("Maths")), ("/employeeNumber", json!("7"))]),
        ok_ent("§3.5.2.1 add an unassigned extension attribute", json!([{"op": "add", "path": format!("{ENT}:costCenter"), "value": "42"}]), &[("/costCenter", json!("42")), ("/department", json!("R&D"))]),
        ok_ent("§3.5.2.1 add the extension as a whole merges", json!([{"op": "add", "path": ENT, "value": {"division": "North"}}]), &[("/division", json!("North")), ("/department", json!("R&D"))]),
        ok_ent("§3.5.2.1 add without path, the extension object merges", json!([{"op": "add", "value": {ENT: {"department": "Ops"}}}]), &[("/department", json!("Ops")), ("/employeeNumber", json!("7"))]),
        ok_ent("§3.5.2.1 add without path, URN-qualified extension key", json!([{"op": "add", "value": {manager.clone(): {"value": "m-9"}}}]), &[("/manager/value", json!("m-9")), ("/department", json!("R&D"))]),
        ok_ent("§3.5.2.1 add without path, URN-qualified sub-attribute key", json!([{"op": "add", "value": {format!("{ENT}:manager.value"): "m-8"}}]), &[("/manager/value", json!("m-8"))]),
        ok_ent("Entra: manager as a bare id", json!([{"op": "Add", "path": manager, "value": "m-2"}]), &[("/manager/value", json!("m-2"))]),
        ok_ent("§3.5.2.1 add the manager's read-only displayName is ignored", json!([{"op": "add", "path": manager, "value": {"value": "m-3", "displayName": "Boss"}}]), &[("/manager/value", json!("m-3")), ("/manager/displayName", Value::Null)]),
        err("§3.5.2 the manager's displayName is read-only", json!([{"op": "add", "path": format!("{ENT}:manager.displayName"), "value": "Boss"}]), Kind::Mutability),
        err("§3.5.2 unknown extension attribute", json!([{"op": "add", "path": format!("{ENT}:shoeSize"), "value": "9"}]), Kind::InvalidPath),
        err("§3.5.2 the extension as a whole needs an object", json!([{"op": "add", "path": ENT, "value": "x"}]), Kind::InvalidValue),
        // Value filters in paths (valuePath, §3.5.2 "path" ABNF)
        ok("§3.5.2.1 add to the work email's value (Entra)", json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}]), &[("/emails/0/value", json!("w@x.com")), ("/emails/0/type", json!("work")), ("/emails/1/value", json!("ada@home.org"))]),
        ok("§3.5.2.1 add creates the element an eq filter describes (Entra)", json!([{"op": "add", "path": "emails[type eq \"other\"].value", "value": "o@x.com"}]), &[("/emails/2/type", json!("other")), ("/emails/2/value", json!("o@x.com"))]),
        ok("§3.5.2.1 add creates the element an eq filter describes (Entra)", json!([{"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0199"}]), &[("/phoneNumbers/1/type", json!("work")), ("/phoneNumbers/1/value", json!("+1 555 0199"))]),
        ok("§3.5.2.1 add creates the address an eq filter describes (Entra)", json!([{"op": "Add", "path": "addresses[type eq \"home\"].locality", "value": "Shelbyville"}]), &[("/addresses/1/type", json!("home")), ("/addresses/1/locality", json!("Shelbyville")), ("/addresses/0/locality", json!("Springfield"))]),
        ok("§3.5.2.1 add merges into the filtered elements", json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}]), &[("/emails/1/display", json!("Home")), ("/emails/1/value", json!("ada@home.org"))]),
        err("§3.5.2.1 a filter that describes no element is no target", json!([{"op": "add", "path": "emails[value co \"nobody\"].type", "value": "x"}]), Kind::NoTarget),
        err("§3.5.2 a value filter on a single-valued attribute", json!([{"op": "add", "path": "displayName[value eq \"x\"]", "value": "y"}]), Kind::InvalidPath),
        err("§3.5.2 a value filter on a read-only attribute", json!([{"op": "add", "path": "groups[value eq \"g\"].display", "value": "y"}]), Kind::Mutability),
        // §3.5.2.2 remove
        ok("§3.5.2.2 remove a single value", json!([{"op": "remove", "path": "title"}]), &[("/title", Value::Null), ("/displayName", json!("Ada"))]),
        ok("§3.5.2.2 remove a sub-attribute", json!([{"op": "remove", "path": "name.familyName"}]), &[("/name/familyName", Value::Null), ("/name/givenName", json!("Ada"))]),
        ok("§3.5.2.2 a complex attribute left empty is unassigned", json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"}]), &[("/name", Value::Null)]),
        ok("§3.5.2.2 remove a whole multi-valued attribute", json!([{"op": "remove", "path": "emails"}]), &[("/emails", Value::Null)]),
        ok("§3.5.2.2 remove the values a filter selects", json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]), &[("/emails/0/type", json!("home")), ("/emails/1", Value::Null)]),
        ok("§3.5.2.2 remove the values a filter selects", json!([{"op": "remove", "path": "emails[value ew \".org\"]"}]), &[("/emails/0/type", json!("work")), ("/emails/1", Value::Null)]),
        ok("§3.5.2.2 remove the primary value", json!([{"op": "remove", "path": "emails[primary eq true]"}]), &[("/emails/0/value", json!("ada@home.org")), ("/emails/1", Value::Null)]),
        ok("§3.5.2.2 no value left: unassigned", json!([{"op": "remove", "path": "emails[type eq \"work\" or type eq \"home\"]"}]), &[("/emails", Value::Null)]),
        ok("§3.5.2.2 no value left: unassigned", json!([{"op": "remove", "path": "addresses[type eq \"work\"]"}]), &[("/addresses", Value::Null)]),
        ok("§3.5.2.2 remove a sub-attribute of the filtered values", json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}]), &[("/emails/1/type", Value::Null), ("/emails/1/value", json!("ada@home.org")), ("/emails/0/type", json!("work"))]),
        ok("§3.5.2.2 remove a sub-attribute of the filtered values", json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]), &[("/emails/0/value", Value::Null), ("/emails/0/type", json!("work"))]),
        ok("§3.5.2.2 remove a sub-attribute of every value", json!([{"op": "remove", "path": "emails.type"}]), &[("/emails/0/type", Value::Null), ("/emails/1/type", Value::Null), ("/emails/1/value", json!("ada@home.org"))]),
        ok("§3.5.2.2 remove what is not there", json!([{"op": "remove", "path": "nickName"}]), &[("/nickName", Value::Null), ("/title", json!("Analyst"))]),
        ok("§3.5.2.2 remove values no filter matches", json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]), &[("/emails/1/value", json!("ada@home.org"))]),
        ok("§3.5.2.2 remove what is not there", json!([{"op": "remove", "path": "x509Certificates.value"}]), &[("/x509Certificates", Value::Null)]),
        ok("§3.5.2.2 remove, URN-qualified core path", json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title"}]), &[("/title", Value::Null)]),
        ok("§3.5.2.2 remove the write-only password", json!([{"op": "remove", "path": "password"}]), &[("/password", Value::Null)]),
        err("§3.5.2.2 remove active: unassigned would mean active again (docs/http.md)", json!([{"op": "remove", "path": "active"}]), Kind::Mutability),
        ok("Entra: remove values named in 'value'", json!([{"op": "Remove", "path": "emails", "value": [{"value": "ada@home.org"}]}]), &[("/emails/0/value", json!("ada@x.com")), ("/emails/1", Value::Null)]),
        ok("Entra: remove values named in 'value', case-insensitively", json!([{"op": "Remove", "path": "emails", "value": [{"value": "ADA@HOME.ORG"}]}]), &[("/emails/1", Value::Null)]),
        ok_ent("§3.5.2.2 remove the manager", json!([{"op": "remove", "path": manager}]), &[("/manager", Value::Null), ("/department", json!("R&D"))]),
        ok_ent("Entra: remove the manager with the old value", json!([{"op": "Remove", "path": manager, "value": [{"value": "m-1"}]}]), &[("/manager", Value::Null), ("/department", json!("R&D"))]),
        ok_ent("§3.5.2.2 remove the manager's value", json!([{"op": "remove", "path": format!("{ENT}:manager.value")}]), &[("/manager", Value::Null)]),
        ok_ent("§3.5.2.2 remove the whole extension", json!([{"op": "remove", "path": ENT}]), &[("", Value::Null)]),
        ok_ent("§3.5.2.2 an extension left empty is unassigned", json!([{"op": "remove", "path": department}, {"op": "remove", "path": format!("{ENT}:employeeNumber")}, {"op": "remove", "path": manager}]), &[("", Value::Null)]),
        err("§3.5.2.2 remove without path", json!([{"op": "remove"}]), Kind::NoTarget),
        err("§3.5.2.2 remove without path", json!([{"op": "remove", "value": {"title": "Analyst"}}]), Kind::NoTarget),
        err("§3.5.2.2 remove a read-only attribute", json!([{"op": "remove", "path": "id"}]), Kind::Mutability),
        err("§3.5.2.2 remove a read-only attribute", json!([{"op": "remove", "path": "meta"}]), Kind::Mutability),
        err("§3.5.2.2 remove a read-only attribute", json!([{"op": "remove", "path": "meta.version"}]), Kind::Mutability),
        err("§3.5.2.2 remove a read-only attribute", json!([{"op": "remove", "path": "groups"}]), Kind::Mutability),
        err("§3.5.2.2 remove a required attribute", json!([{"op": "remove", "path": "userName"}]), Kind::Mutability),
        err("§3.5.2.2 remove a required attribute", json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName"}]), Kind::Mutability),
        err("§3.5.2 an unparseable path", json!([{"op": "remove", "path": "emails["}]), Kind::InvalidPath),
        err("§3.5.2 an unparseable path", json!([{"op": "remove", "path": "name.givenName.x"}]), Kind::InvalidPath),
        err("§3.5.2 an unparseable path", json!([{"op": "remove", "path": "emails[type eq \"work\"] extra"}]), Kind::InvalidPath),
        err("§3.5.2 an unparseable path", json!([{"op": "remove", "path": "emails[type eq \"work\"]value"}]), Kind::InvalidPath),
        err("§3.5.2 an unparseable path", json!([{"op": "remove", "path": "a b"}]), Kind::InvalidPath),
        err("§3.5.2 a value filter on a single-valued attribute", json!([{"op": "remove", "path": "displayName[value eq \"Ada\"]"}]), Kind::InvalidPath),
        err("§3.5.2 a sub-attribute of a simple attribute", json!([{"op": "remove", "path": "userName.first"}]), Kind::InvalidPath),
        // §3.5.2.3 replace
        ok("§3.5.2.3 replace a single value", json!([{"op": "replace", "path": "title", "value": "T"}]), &[("/title", json!("T"))]),
        ok("§3.5.2.3 replace an unassigned attribute acts as add", json!([{"op": "replace", "path": "nickName", "value": "N"}]), &[("/nickName", json!("N"))]),
        ok("§3.5.2.3 replace a complex value leaves other sub-attributes", json!([{"op": "replace", "path": "name", "value": {"familyName": "King"}}]), &[("/name/familyName", json!("King")), ("/name/givenName", json!("Ada"))]),
        ok("§3.5.2.3 replace a sub-attribute", json!([{"op": "replace", "path": "name.familyName", "value": "King"}]), &[("/name/familyName", json!("King")), ("/name/givenName", json!("Ada"))]),
        ok("§3.5.2.3 replace a multi-valued attribute replaces all values", json!([{"op": "replace", "path": "emails", "value": [{"value": "new@x.com", "type": "work"}]}]), &[("/emails/0/value", json!("new@x.com")), ("/emails/0/primary", Value::Null), ("/emails/1", Value::Null)]),
        err("§3.5.2.3 RFC 7643 §2.4 a multi-valued attribute as a bare string", json!([{"op": "replace", "path": "emails", "value": "bare@x.com"}]), Kind::InvalidValue),
        ok("§3.5.2.3 OneLogin: a multi-valued complex attribute as one object", json!([{"op": "replace", "path": "emails", "value": {"value": "one@x.com", "type": "work"}}]), &[("/emails/0/value", json!("one@x.com")), ("/emails/1", Value::Null)]),
        ok("§3.5.2.3 replace with an empty list unassigns", json!([{"op": "replace", "path": "emails", "value": []}]), &[("/emails", Value::Null)]),
        ok("§3.5.2.3 replace the values a filter selects", json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.com", "type": "home"}}]), &[("/emails/1/value", json!("h@x.com")), ("/emails/0/value", json!("ada@x.com"))]),
        ok("§3.5.2.3 replace the values a filter selects, whole", json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "o@x.com", "type": "other"}}]), &[("/emails/1/type", json!("other")), ("/emails/1/value", json!("o@x.com"))]),
        ok("§3.5.2.3 replace a sub-attribute of the filtered values", json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h2@x.com"}]), &[("/emails/1/value", json!("h2@x.com")), ("/emails/1/type", json!("home"))]),
        ok("§3.5.2.3 replace a sub-attribute of the filtered values", json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "2 Main St"}]), &[("/addresses/0/streetAddress", json!("2 Main St")), ("/addresses/0/locality", json!("Springfield"))]),
        ok("§3.5.2.3 replace a sub-attribute of the filtered values", json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0111"}]), &[("/phoneNumbers/0/value", json!("+1 555 0111"))]),
        ok("§3.5.2.3 replace a sub-attribute of the filtered values", json!([{"op": "replace", "path": "emails[type eq \"work\"].display", "value": "Work"}]), &[("/emails/0/display", json!("Work")), ("/emails/1/display", Value::Null)]),
        ok("§3.5.2.3 replace a sub-attribute of every value", json!([{"op": "replace", "path": "emails.display", "value": "E"}]), &[("/emails/0/display", json!("E")), ("/emails/1/display", json!("E"))]),
        ok("§3.5.2.3 the values a filter selects may be several", json!([{"op": "replace", "path": "emails[value co \"ada\"].type", "value": "other"}]), &[("/emails/0/type", json!("other")), ("/emails/1/type", json!("other"))]),
        ok("RFC 7643 §2.4 one primary: making one primary clears the other", json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]), &[("/emails/1/primary", json!(true)), ("/emails/0/primary", Value::Null)]),
        ok("RFC 7643 §2.4 one primary, Entra string boolean", json!([{"op": "Replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]), &[("/emails/1/primary", json!(true)), ("/emails/0/primary", Value::Null)]),
        ok("RFC 7643 §2.4 one primary, by whole-value replace", json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "ada@home.org", "type": "home", "primary": true}}]), &[("/emails/1/primary", json!(true)), ("/emails/0/primary", Value::Null)]),
        ok("RFC 7643 §2.4 one primary, by add", json!([{"op": "add", "path": "emails", "value": [{"value": "p@x.com", "primary": true}]}]), &[("/emails/2/primary", json!(true)), ("/emails/0/primary", Value::Null)]),
        ok("RFC 7643 §2.4 unsetting primary", json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": false}]), &[("/emails/0/primary", json!(false))]),
        err("RFC 7643 §2.4 two primaries", json!([{"op": "replace", "path": "emails.primary", "value": true}]), Kind::InvalidValue),
        err("RFC 7643 §2.4 two primaries", json!([{"op": "replace", "path": "emails", "value": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": "True"}]}]), Kind::InvalidValue),
        err("§3.5.2.3 a filter that matches no value is no target", json!([{"op": "replace", "path": "emails[value co \"nobody\"].value", "value": "x@y"}]), Kind::NoTarget),
        err("§3.5.2.3 a filter that matches no value is no target", json!([{"op": "replace", "path": "emails[type eq \"x\" or type eq \"y\"].display", "value": "x"}]), Kind::NoTarget),
        err("§3.5.2.3 replace one filtered value at a time", json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": [{"value": "a@x"}, {"value": "b@x"}]}]), Kind::InvalidValue),
        ok("Entra: replace creates the element an eq filter describes", json!([{"op": "Replace", "path": "emails[type eq \"other\"].value", "value": "o@x.com"}]), &[("/emails/2/type", json!("other")), ("/emails/2/value", json!("o@x.com"))]),
        ok("§3.5.2.3 Okta: deactivate without path", json!([{"op": "replace", "value": {"active": false}}]), &[("/active", json!(false)), ("/title", json!("Analyst"))]),
        ok("§3.5.2.3 Okta: reactivate without path", json!([{"op": "replace", "value": {"active": true}}]), &[("/active", json!(true))]),
        ok("§3.5.2.3 Okta: the read-only id inside the value is ignored", json!([{"op": "replace", "value": {"id": "x", "displayName": "New", "meta": {}, "schemas": [CORE]}}]), &[("/displayName", json!("New")), ("/id", Value::Null), ("/meta", Value::Null)]),
        ok("§3.5.2.3 without path a complex value merges", json!([{"op": "replace", "value": {"name": {"givenName": "A"}}}]), &[("/name/givenName", json!("A")), ("/name/familyName", json!("Lovelace"))]),
        ok("§3.5.2.3 without path a multi-valued value replaces", json!([{"op": "replace", "value": {"emails": [{"value": "only@x.com", "primary": true}]}}]), &[("/emails/0/value", json!("only@x.com")), ("/emails/1", Value::Null)]),
        ok("Entra: dotted keys without path", json!([{"op": "replace", "value": {"name.familyName": "King", "name.givenName": "Augusta"}}]), &[("/name/familyName", json!("King")), ("/name/givenName", json!("Augusta"))]),
        ok("§3.5.2.3 an empty value object changes nothing", json!([{"op": "replace", "value": {}}]), &[("/title", json!("Analyst"))]),
        ok("§3.5.2.3 an empty path means no path", json!([{"op": "replace", "path": "", "value": {"title": "T"}}]), &[("/title", json!("T"))]),
        ok("§3.5.2.3 a null path means no path", json!([{"op": "replace", "path": null, "value": {"title": "T"}}]), &[("/title", json!("T"))]),
        ok_ent("§3.5.2.3 without path, URN-qualified key", json!([{"op": "replace", "value": {department.clone(): "Ops"}}]), &[("/department", json!("Ops")), ("/manager/value", json!("m-1"))]),
        ok_ent("§3.5.2.3 without path, the extension object merges", json!([{"op": "replace", "value": {ENT: {"costCenter": "9"}}}]), &[("/costCenter", json!("9")), ("/department", json!("R&D"))]),
        ok_ent("§3.5.2.3 extension attribute by URN", json!([{"op": "replace", "path": format!("{ENT}:employeeNumber"), "value": "8"}]), &[("/employeeNumber", json!("8"))]),
        ok_ent("Entra: manager as a bare id", json!([{"op": "Replace", "path": manager, "value": "m-2"}]), &[("/manager/value", json!("m-2"))]),
        ok_ent("§3.5.2.3 extension sub-attribute by URN", json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m-4"}]), &[("/manager/value", json!("m-4"))]),
        ok_ent("§3.5.2.3 null clears an extension attribute", json!([{"op": "replace", "path": department, "value": null}]), &[("/department", Value::Null), ("/employeeNumber", json!("7"))]),
        ok("§3.5.2.3 URN-qualified core sub-attribute", json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "King"}]), &[("/name/familyName", json!("King"))]),
        ok("§3.10 attribute names are case-insensitive", json!([{"op": "replace", "path": "NAME.FAMILYNAME", "value": "King"}]), &[("/name/familyName", json!("King"))]),
        ok("§3.10 attribute names and filters are case-insensitive", json!([{"op": "replace", "path": "EMAILS[TYPE EQ \"Work\"].VALUE", "value": "w@x.com"}]), &[("/emails/0/value", json!("w@x.com"))]),
        ok("§3.10 names are stored canonically", json!([{"op": "replace", "value": {"DISPLAYNAME": "D", "Name": {"GIVENNAME": "G"}}}]), &[("/displayName", json!("D")), ("/name/givenName", json!("G"))]),
        ok("§3.5.2.3 externalId", json!([{"op": "replace", "path": "externalId", "value": "00u2"}]), &[("/externalId", json!("00u2"))]),
        ok("RFC 7643 §2.5 null unassigns", json!([{"op": "replace", "path": "displayName", "value": null}]), &[("/displayName", Value::Null)]),
        ok("RFC 7643 §2.5 empty string unassigns", json!([{"op": "replace", "path": "name.givenName", "value": ""}]), &[("/name/givenName", Value::Null), ("/name/familyName", json!("Lovelace"))]),
        ok("RFC 7643 §2.5 null unassigns the filtered values", json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": null}]), &[("/emails/1", Value::Null), ("/emails/0/value", json!("ada@x.com"))]),
        ok("Entra: string booleans", json!([{"op": "Replace", "path": "active", "value": "False"}]), &[("/active", json!(false))]),
        ok("Entra: string booleans, any case", json!([{"op": "replace", "path": "active", "value": "TRUE"}]), &[("/active", json!(true))]),
        ok("Entra: string booleans without path", json!([{"op": "Replace", "value": {"active": "False"}}]), &[("/active", json!(false))]),
        ok("Entra: add on an existing single value replaces it", json!([{"op": "Add", "path": "displayName", "value": "Countess"}]), &[("/displayName", json!("Countess"))]),
        ok("Entra: capitalised ops", json!([{"op": "Replace", "path": "title", "value": "A"}, {"op": "Add", "path": "nickName", "value": "B"}, {"op": "Remove", "path": "displayName"}]), &[("/title", json!("A")), ("/nickName", json!("B")), ("/displayName", Value::Null)]),
        ok("§3.5.2 op names in any case", json!([{"op": "REPLACE", "path": "title", "value": "A"}]), &[("/title", json!("A"))]),
        err("§3.5.2 string booleans are only true and false", json!([{"op": "replace", "path": "active", "value": "yes"}]), Kind::InvalidValue),
        err("§3.5.2 booleans are not numbers", json!([{"op": "replace", "path": "active", "value": 0}]), Kind::InvalidValue),
        err("§3.5.2 the wrong type", json!([{"op": "replace", "path": "title", "value": {"a": 1}}]), Kind::InvalidValue),
        err("§3.5.2 the wrong type", json!([{"op": "replace", "path": "title", "value": ["x"]}]), Kind::InvalidValue),
        err("§3.5.2 the wrong type without path", json!([{"op": "replace", "value": {"userName": ["a"]}}]), Kind::InvalidValue),
        err("§3.5.2 control characters", json!([{"op": "replace", "path": "userName", "value": "a\u{0}b"}]), Kind::InvalidValue),
        err("§3.5.2 replace without value", json!([{"op": "replace", "path": "title"}]), Kind::InvalidValue),
        err("§3.5.2.3 replace a read-only attribute", json!([{"op": "replace", "path": "id", "value": "x"}]), Kind::Mutability),
        err("§3.5.2.3 replace a read-only attribute", json!([{"op": "replace", "path": "meta.created", "value": "2024-01-01T00:00:00Z"}]), Kind::Mutability),
        err("§3.5.2.3 replace a read-only attribute", json!([{"op": "replace", "path": "groups[value eq \"g\"]", "value": {"value": "h"}}]), Kind::Mutability),
        err("§3.5.2.3 replace a read-only attribute", json!([{"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "x"}]), Kind::Mutability),
        err("§3.5.2.3 a required attribute cannot become unassigned", json!([{"op": "replace", "path": "userName", "value": null}]), Kind::Mutability),
        err("§3.5.2.3 a required attribute cannot become unassigned", json!([{"op": "replace", "path": "userName", "value": ""}]), Kind::Mutability),
        err("§3.5.2.3 a required attribute cannot become unassigned", json!([{"op": "replace", "value": {"userName": null}}]), Kind::Mutability),
        err("§3.5.2.3 schemas is not an attribute to patch", json!([{"op": "replace", "path": "schemas", "value": [CORE]}]), Kind::InvalidPath),
        err("§3.5.2.3 unknown attribute", json!([{"op": "replace", "path": "emails[type eq \"work\"].shoe", "value": "x"}]), Kind::InvalidPath),
        // Several operations: in order, all or nothing (§3.5.2: "if any operation fails ... the
        // original resource state is kept")
        ok("§3.5.2 operations apply in order", json!([{"op": "add", "path": "emails", "value": {"value": "n@x.com"}}, {"op": "replace", "path": "emails[value eq \"n@x.com\"].type", "value": "other"}]), &[("/emails/2/type", json!("other"))]),
        ok("§3.5.2 operations apply in order", json!([{"op": "remove", "path": "emails"}, {"op": "add", "path": "emails", "value": {"value": "z@x.com"}}]), &[("/emails/0/value", json!("z@x.com")), ("/emails/1", Value::Null)]),
        ok("§3.5.2 operations apply in order", json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "active", "value": true}]), &[("/active", json!(true))]),
        ok("§3.5.2 a required attribute may be replaced", json!([{"op": "replace", "path": "userName", "value": "lovelace@x.com"}]), &[("/userName", json!("lovelace@x.com"))]),
        err("§3.5.2 atomic: a read-only target fails the whole PATCH", json!([{"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "replace", "path": "id", "value": "x"}]), Kind::Mutability),
        err("§3.5.2 atomic: no target fails the whole PATCH", json!([{"op": "replace", "path": "title", "value": "T"}, {"op": "replace", "path": "emails[value co \"nobody\"].value", "value": "x"}]), Kind::NoTarget),
        err("§3.5.2 atomic: a bad value fails the whole PATCH", json!([{"op": "remove", "path": "title"}, {"op": "add", "path": "userName", "value": 5}]), Kind::InvalidValue),
        err("§3.5.2 atomic: removing userName fails the whole PATCH", json!([{"op": "add", "path": "nickName", "value": "A"}, {"op": "remove", "path": "userName"}]), Kind::Mutability),
        err("§3.5.2 atomic: an unparseable path fails the whole PATCH", json!([{"op": "add", "path": "nickName", "value": "A"}, {"op": "remove", "path": "emails["}]), Kind::InvalidPath),
        err("§3.5.2 atomic: a bad later op fails the whole PATCH", json!([{"op": "replace", "value": {"active": false}}, {"op": "move", "path": "title"}]), Kind::InvalidSyntax),
        // The request envelope (§3.5.2)
        Case { section: "§3.5.2 schemas may be left out", body: json!({"Operations": [{"op": "replace", "path": "title", "value": "T"}]}), expect: Expect::Ok(vec![("/title".into(), json!("T"))]) },
        Case { section: "§3.5.2 keys in any case", body: json!({"SCHEMAS": [PATCH_OP_SCHEMA], "operations": [{"OP": "replace", "PATH": "title", "VALUE": "T"}]}), expect: Expect::Ok(vec![("/title".into(), json!("T"))]) },
        Case { section: "§3.5.2 schemas must name PatchOp", body: json!({"schemas": [CORE], "Operations": [{"op": "replace", "path": "title", "value": "T"}]}), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 schemas must be an array", body: json!({"schemas": PATCH_OP_SCHEMA, "Operations": [{"op": "replace", "path": "title", "value": "T"}]}), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 Operations is required", body: json!({"schemas": [PATCH_OP_SCHEMA]}), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 Operations is an array", body: json!({"schemas": [PATCH_OP_SCHEMA], "Operations": {"op": "add"}}), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 Operations is not empty", body: json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 the body is an object", body: json!([{"op": "add", "path": "title", "value": "T"}]), expect: Expect::Err(Kind::InvalidSyntax) },
        Case { section: "§3.5.2 the body is an object", body: json!("Operations"), expect: Expect::Err(Kind::InvalidSyntax) },
        err("§3.5.2 each operation is an object", json!(["add"]), Kind::InvalidSyntax),
        err("§3.5.2 op is add, remove or replace", json!([{"op": "move", "path": "title"}]), Kind::InvalidSyntax),
        err("§3.5.2 op is add, remove or replace", json!([{"op": "copy", "path": "title", "value": "x"}]), Kind::InvalidSyntax),
        err("§3.5.2 op is required", json!([{"path": "title", "value": "x"}]), Kind::InvalidSyntax),
        err("§3.5.2 op is a string", json!([{"op": 1, "path": "title", "value": "x"}]), Kind::InvalidSyntax),
        err("§3.5.2 path is a string", json!([{"op": "remove", "path": 5}]), Kind::InvalidPath),
        err("§3.5.2 path is a string", json!([{"op": "remove", "path": ["title"]}]), Kind::InvalidPath),
        // No stored value can hold U+0000 (Postgres refuses it), wherever it comes in.
        err("§3.12 a NUL in a value", json!([{"op": "replace", "path": "title", "value": "a\u{0}"}]), Kind::InvalidValue),
        err("§3.12 a NUL in a no-path value", json!([{"op": "add", "value": {"name.givenName": "\u{0}"}}]), Kind::InvalidValue),
        err("§3.12 a NUL in a path's value filter", json!([{"op": "replace", "path": "emails[value eq \"\\u0000\"].type", "value": "home"}]), Kind::InvalidPath),
        err("§3.12 a NUL in a path", json!([{"op": "remove", "path": "title\u{0}"}]), Kind::InvalidPath),
    ]
}

/// Applies a PATCH body to `doc` the way PATCH /Users does.
fn apply(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    body: &Value,
) -> Result<(), scim_api::scim::Invalid> {
    let ops = patch::parse(body)?;
    patch::apply(schema, doc, &ops)
}

fn primaries_are_unique(doc: &Map<String, Value>) -> Result<(), String> {
    for (name, value) in doc {
        if let Value::Array(items) = value {
            let n = items
                .iter()
                .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
                .count();
            if n > 1 {
                return Err(format!("{n} primary values in '{name}'"));
            }
        }
    }
    Ok(())
}

/// What every successful PATCH leaves: stored form, one primary, and idempotence (IdPs retry
/// requests that timed out, RFC 7644 §3.5.2.1 "no changes SHOULD be made").
fn check_result(schema: &ResourceSchema, body: &Value, out: &Map<String, Value>) -> Result<(), String> {
    let renormalised = resource::normalize_attributes(schema, out)
        .map_err(|e| format!("the result does not normalise: {e}"))?;
    if &renormalised != out {
        return Err(format!(
            "the result is not in stored form: {} became {}",
            Value::Object(out.clone()),
            Value::Object(renormalised)
        ));
    }
    primaries_are_unique(out)?;
    let mut again = out.clone();
    match apply(schema, &mut again, body) {
        // A replace that changed what its own filter selects finds nothing the second time.
        Err(e) if e.kind == Kind::NoTarget => return Ok(()),
        Err(e) => return Err(format!("applying it again failed: {e}")),
        Ok(()) => {}
    }
    if &again != out {
        return Err(format!(
            "applying it again changed {} into {}",
            Value::Object(out.clone()),
            Value::Object(again)
        ));
    }
    Ok(())
}

fn run_case(schema: &ResourceSchema, start: &Map<String, Value>, case: &Case) -> Result<(), String> {
    let mut doc = start.clone();
    let outcome = apply(schema, &mut doc, &case.body);
    match (&case.expect, outcome) {
        (Expect::Err(kind), Err(e)) if e.kind == *kind => {
            if &doc != start {
                return Err("failed, but changed the resource".into());
            }
            if !e.detail.starts_with("Operations[") && !matches!(kind, Kind::InvalidSyntax) {
                return Err(format!("the detail does not name the operation: {}", e.detail));
            }
            Ok(())
        }
        (Expect::Err(kind), Err(e)) => Err(format!(
            "failed with {:?} ({}), expected {kind:?}",
            e.kind, e.detail
        )),
        (Expect::Err(kind), Ok(())) => Err(format!("applied, expected {kind:?}: {}", Value::Object(doc))),
        (Expect::Ok(_), Err(e)) => Err(format!("failed with {:?}: {}", e.kind, e.detail)),
        (Expect::Ok(checks), Ok(())) => {
            let out = Value::Object(doc.clone());
            for (pointer, want) in checks {
                let got = out.pointer(pointer).cloned().unwrap_or(Value::Null);
                if &got != want {
                    return Err(format!("{pointer} is {got}, expected {want}; the result: {out}"));
                }
            }
            check_result(schema, &case.body, &doc)
        }
    }
}

fn run_table(schema: &ResourceSchema, start: &Map<String, Value>, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            run_case(schema, start, case)
                .err()
                .map(|why| format!("[{}] {}: {why}", case.section, case.body["Operations"]))
        })
        .collect()
}

#[test]
fn user_patch_table_holds() {
    let cases = user_cases();
    let failures = run_table(&USER_RESOURCE, &stored_user(), &cases);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A group PATCH: membership changes split off (members are rows, not part of the document),
/// the rest applied to the document, as PATCH /Groups does.
enum GroupExpect {
    Ok {
        doc: Vec<(&'static str, Value)>,
        members: Vec<Change>,
    },
    Err(Kind),
}

fn apply_group(doc: &mut Map<String, Value>, body: &Value) -> Result<Vec<Change>, scim_api::scim::Invalid> {
    let plan = members::plan(patch::parse(body)?)?;
    patch::apply_numbered(&GROUP_RESOURCE, doc, &plan.attributes)?;
    Ok(plan.members)
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn sent(v: &[&str]) -> Vec<Sent> {
    v.iter()
        .map(|s| Sent {
            value: (*s).to_owned(),
            kind: None,
            display: None,
        })
        .collect()
}

#[rustfmt::skip]
fn group_cases() -> Vec<(&'static str, Value, GroupExpect)> {
    use GroupExpect::{Err, Ok};
    let gcore = "urn:ietf:params:scim:schemas:core:2.0:Group";
    vec![
        ("Okta: rename without path, id inside ignored", json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Engineering"}}]), Ok { doc: vec![("/displayName", json!("Engineering")), ("/id", Value::Null)], members: vec![] }),
        ("Okta: rename without path, unchanged name", json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Eng"}}]), Ok { doc: vec![("/displayName", json!("Eng"))], members: vec![] }),
        ("Okta: add members", json!([{"op": "add", "path": "members", "value": [{"value": "u-1", "display": "ada@x.com"}, {"value": "u-2"}]}]), Ok { doc: vec![("/members", Value::Null)], members: vec![Change::Add(vec![Sent { display: Some("ada@x.com".into()), ..sent(&["u-1"]).remove(0) }, sent(&["u-2"]).remove(0)])] }),
        ("Okta: remove a member by value filter", json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}]), Ok { doc: vec![], members: vec![Change::Remove(ids(&["u-1"]))] }),
        ("§3.5.2.2 remove members by an or of value filters", json!([{"op": "remove", "path": "members[value eq \"u-1\" or value eq \"u-2\"]"}]), Ok { doc: vec![], members: vec![Change::Remove(ids(&["u-1", "u-2"]))] }),
        ("Okta: replace the whole membership", json!([{"op": "replace", "path": "members", "value": [{"value": "u-3"}]}]), Ok { doc: vec![], members: vec![Change::Replace(sent(&["u-3"]))] }),
        ("§3.5.2.3 replace the membership with nobody", json!([{"op": "replace", "path": "members", "value": []}]), Ok { doc: vec![], members: vec![Change::Replace(vec![])] }),
        ("Entra: capitalised add and remove with value arrays", json!([{"op": "Add", "path": "members", "value": [{"value": "u-1"}]}, {"op": "Remove", "path": "members", "value": [{"value": "u-2"}]}]), Ok { doc: vec![], members: vec![Change::Add(sent(&["u-1"])), Change::Remove(ids(&["u-2"]))] }),
        ("§3.5.2.2 remove all members", json!([{"op": "remove", "path": "members"}]), Ok { doc: vec![], members: vec![Change::RemoveAll] }),
        ("§3.5.2.2 remove the members another filter matches", json!([{"op": "remove", "path": "members[display sw \"ada\"]"}]), Ok { doc: vec![], members: vec![Change::RemoveMatching(scim_api::scim::filter::parse("display sw \"ada\"").expect("filter"))] }),
        ("§3.5.2.1 add one member object", json!([{"op": "add", "path": "members", "value": {"value": "u-3"}}]), Ok { doc: vec![], members: vec![Change::Add(sent(&["u-3"]))] }),
        ("§3.5.2.1 add a member by bare id", json!([{"op": "add", "path": "members", "value": "u-4"}]), Ok { doc: vec![], members: vec![Change::Add(sent(&["u-4"]))] }),
        ("§3.10 URN-qualified members path", json!([{"op": "add", "path": format!("{gcore}:members"), "value": [{"value": "u-5"}]}]), Ok { doc: vec![], members: vec![Change::Add(sent(&["u-5"]))] }),
        ("§3.5.2.3 without path, members and the rest split", json!([{"op": "replace", "value": {"displayName": "X", "members": [{"value": "u-1"}]}}]), Ok { doc: vec![("/displayName", json!("X"))], members: vec![Change::Replace(sent(&["u-1"]))] }),
        ("§3.5.2.1 without path, members are added", json!([{"op": "add", "value": {"members": [{"value": "u-1"}]}}]), Ok { doc: vec![("/displayName", json!("Eng"))], members: vec![Change::Add(sent(&["u-1"]))] }),
        ("§3.5.2.3 the core URN as path", json!([{"op": "replace", "path": gcore, "value": {"displayName": "Y", "members": []}}]), Ok { doc: vec![("/displayName", json!("Y"))], members: vec![Change::Replace(vec![])] }),
        ("§3.5.2.3 without path, core attributes under the URN", json!([{"op": "replace", "value": {gcore: {"displayName": "Z", "members": [{"value": "u-9"}]}}}]), Ok { doc: vec![("/displayName", json!("Z"))], members: vec![Change::Replace(sent(&["u-9"]))] }),
        ("§3.5.2.3 replace displayName", json!([{"op": "replace", "path": "displayName", "value": "New"}]), Ok { doc: vec![("/displayName", json!("New"))], members: vec![] }),
        ("§3.5.2.3 replace externalId", json!([{"op": "replace", "path": "externalId", "value": "okta-2"}]), Ok { doc: vec![("/externalId", json!("okta-2"))], members: vec![] }),
        ("§3.5.2.2 remove externalId", json!([{"op": "remove", "path": "externalId"}]), Ok { doc: vec![("/externalId", Value::Null)], members: vec![] }),
        ("§3.5.2 rename and membership in one request", json!([{"op": "replace", "path": "displayName", "value": "N"}, {"op": "add", "path": "members", "value": [{"value": "u-1"}]}]), Ok { doc: vec![("/displayName", json!("N"))], members: vec![Change::Add(sent(&["u-1"]))] }),
        ("§3.5.2.2 remove the required displayName", json!([{"op": "remove", "path": "displayName"}]), Err(Kind::Mutability)),
        ("§3.5.2.3 unassign the required displayName", json!([{"op": "replace", "path": "displayName", "value": ""}]), Err(Kind::Mutability)),
        ("§3.5.2.3 unassign the required displayName", json!([{"op": "replace", "value": {"displayName": null}}]), Err(Kind::Mutability)),
        ("§3.5.2.3 replace a read-only attribute", json!([{"op": "replace", "path": "id", "value": "g-2"}]), Err(Kind::Mutability)),
        ("§3.5.2 unknown attribute", json!([{"op": "add", "path": "shoe", "value": "x"}]), Err(Kind::InvalidPath)),
        ("§3.5.2 the user extension is not a group's", json!([{"op": "add", "path": format!("{ENT}:department"), "value": "x"}]), Err(Kind::InvalidPath)),
        ("nested groups: a member may be a group", json!([{"op": "add", "path": "members", "value": [{"value": "g-2", "type": "Group"}]}]), Ok { doc: vec![("/members", Value::Null)], members: vec![Change::Add(vec![Sent { kind: Some("Group".into()), ..sent(&["g-2"]).remove(0) }])] }),
        ("§3.5.2 a member needs a value", json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]), Err(Kind::InvalidValue)),
        ("§3.5.2 a member's attributes are not editable", json!([{"op": "replace", "path": "members[value eq \"u-1\"].display", "value": "x"}]), Err(Kind::InvalidPath)),
        ("§3.5.2 members are not added through a filter", json!([{"op": "add", "path": "members[value eq \"u-1\"]", "value": {"value": "u-1"}}]), Err(Kind::InvalidPath)),
        ("§3.5.2 members.value is not editable", json!([{"op": "replace", "path": "members.value", "value": "u-1"}]), Err(Kind::InvalidPath)),
        ("§3.5.2.2 remove without path", json!([{"op": "remove"}]), Err(Kind::NoTarget)),
        ("§3.5.2 atomic: a bad member fails the rename too", json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "add", "path": "members", "value": [{"value": ""}]}]), Err(Kind::InvalidValue)),
        ("§3.12 a NUL in a member removal filter", json!([{"op": "remove", "path": "members[value eq \"\\u0000\"]"}]), Err(Kind::InvalidPath)),
        ("§3.12 a NUL in a rename", json!([{"op": "replace", "value": {"displayName": "x\u{0}"}}]), Err(Kind::InvalidValue)),
        ("§3.5.2 atomic: a bad rename fails the membership too", json!([{"op": "add", "path": "members", "value": [{"value": "u-1"}]}, {"op": "replace", "path": "displayName", "value": 5}]), Err(Kind::InvalidValue)),
    ]
}

#[test]
fn group_patch_table_holds() {
    let start = stored_group();
    let cases = group_cases();
    let mut failures = Vec::new();
    for (section, ops, expect) in &cases {
        let mut doc = start.clone();
        let outcome = apply_group(&mut doc, &body(ops.clone()));
        let why = match (expect, outcome) {
            (GroupExpect::Err(kind), Err(e)) if e.kind == *kind && doc == start => continue,
            (GroupExpect::Err(kind), Err(e)) if e.kind == *kind => {
                "failed, but changed the document".to_owned()
            }
            (GroupExpect::Err(kind), Err(e)) => {
                format!("failed with {:?} ({}), expected {kind:?}", e.kind, e.detail)
            }
            (GroupExpect::Err(kind), Ok(changes)) => format!("applied ({changes:?}), expected {kind:?}"),
            (GroupExpect::Ok { .. }, Err(e)) => format!("failed with {:?}: {}", e.kind, e.detail),
            (GroupExpect::Ok { doc: checks, members }, Ok(changes)) => {
                let out = Value::Object(doc.clone());
                let wrong: Vec<String> = checks
                    .iter()
                    .filter(|(p, want)| out.pointer(p).unwrap_or(&Value::Null) != want)
                    .map(|(p, want)| {
                        format!(
                            "{p} is {}, expected {want}",
                            out.pointer(p).unwrap_or(&Value::Null)
                        )
                    })
                    .collect();
                if wrong.is_empty() && &changes == members {
                    continue;
                }
                format!("{wrong:?}; members {changes:?}, expected {members:?}")
            }
        };
        failures.push(format!("[{section}] {ops}: {why}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
