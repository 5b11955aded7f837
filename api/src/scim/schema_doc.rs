//! The `/Schemas` documents (RFC 7643 §7): every attribute definition in full, generated from the
//! same definitions that drive validation (`scim::schema`), plus what only a reader needs:
//! descriptions, canonical values and reference types. Where this server differs from the RFC's
//! own schema listing (§8.7.1), the document describes this server: a Group's displayName is
//! required and unique.

use serde_json::{Value, json};

use super::schema::{
    Attr, COMMON, ENTERPRISE_USER, ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, Mutability, Type, USER,
    USER_SCHEMA,
};

/// What a schema document says beyond the attribute definitions, by attribute path.
struct Notes {
    descriptions: &'static [(&'static str, &'static str)],
    canonical: &'static [(&'static str, &'static [&'static str])],
    references: &'static [(&'static str, &'static [&'static str])],
}

const USER_NOTES: Notes = Notes {
    descriptions: &[
        (
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Unique per tenant, compared case-insensitively.",
        ),
        ("name", "The components of the user's real name."),
        (
            "name.formatted",
            "The full name, including all middle names, titles and suffixes as appropriate, formatted for display.",
        ),
        ("name.familyName", "The family name of the User, or last name."),
        ("name.givenName", "The given name of the User, or first name."),
        ("name.middleName", "The middle name(s) of the User."),
        (
            "name.honorificPrefix",
            "The honorific prefix(es) of the User, or title (e.g. 'Ms.').",
        ),
        (
            "name.honorificSuffix",
            "The honorific suffix(es) of the User (e.g. 'III').",
        ),
        (
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        ("nickName", "The casual way to address the user in real life."),
        (
            "profileUrl",
            "A fully qualified URL pointing to a page representing the User's online profile.",
        ),
        ("title", "The user's title, such as 'Vice President'."),
        (
            "userType",
            "The relationship between the organization and the user, e.g. 'Employee' or 'Contractor'.",
        ),
        (
            "preferredLanguage",
            "The User's preferred written or spoken language, as in an HTTP Accept-Language header.",
        ),
        (
            "locale",
            "The User's default location for localizing currency, dates and numbers, e.g. 'en-US'.",
        ),
        (
            "timezone",
            "The User's time zone in the IANA Time Zone database format, e.g. 'America/Los_Angeles'.",
        ),
        (
            "active",
            "The User's administrative status. A user created without it is active.",
        ),
        (
            "password",
            "The User's cleartext password. Accepted for compatibility and discarded: never stored, returned or logged.",
        ),
        ("emails", "Email addresses for the user."),
        ("emails.value", "An email address."),
        ("phoneNumbers", "Phone numbers for the User."),
        (
            "phoneNumbers.value",
            "A phone number, e.g. 'tel:+1-201-555-0123'.",
        ),
        ("ims", "Instant messaging addresses for the User."),
        ("ims.value", "An instant messaging address."),
        ("photos", "URLs of images of the User."),
        ("photos.value", "The URL of an image of the User."),
        ("addresses", "Physical mailing addresses of the User."),
        (
            "addresses.formatted",
            "The full mailing address, formatted for display or for a mailing label.",
        ),
        (
            "addresses.streetAddress",
            "The street address: house number, street name, P.O. box and the like.",
        ),
        ("addresses.locality", "The city or locality."),
        ("addresses.region", "The state or region."),
        ("addresses.postalCode", "The zip code or postal code."),
        (
            "addresses.country",
            "The country, as an ISO 3166-1 alpha-2 code such as 'US'.",
        ),
        (
            "groups",
            "The groups the user belongs to: 'direct' where it is a member, 'indirect' through child groups. Read-only: membership changes go through /Groups.",
        ),
        ("groups.value", "The id of the Group."),
        ("groups.$ref", "The URI of the Group."),
        ("groups.display", "The Group's displayName."),
        (
            "groups.type",
            "How the user is a member: always 'direct', as groups do not nest here.",
        ),
        ("entitlements", "Entitlements of the User."),
        ("entitlements.value", "An entitlement."),
        ("roles", "Roles of the User."),
        ("roles.value", "A role."),
        ("x509Certificates", "X.509 certificates issued to the User."),
        (
            "x509Certificates.value",
            "A DER-encoded X.509 certificate, base64-encoded.",
        ),
    ],
    canonical: &[
        ("emails.type", &["work", "home", "other"]),
        (
            "phoneNumbers.type",
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        (
            "ims.type",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        ("photos.type", &["photo", "thumbnail"]),
        ("addresses.type", &["work", "home", "other"]),
        ("groups.type", &["direct", "indirect"]),
    ],
    references: &[
        ("profileUrl", &["external"]),
        ("photos.value", &["external"]),
        ("groups.$ref", &["Group"]),
    ],
};

const ENTERPRISE_NOTES: Notes = Notes {
    descriptions: &[
        (
            "employeeNumber",
            "A numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
        ),
        ("costCenter", "The name of a cost center."),
        ("organization", "The name of an organization."),
        ("division", "The name of a division."),
        ("department", "The name of a department."),
        (
            "manager",
            "The User's manager. A bare string is read as the manager's value.",
        ),
        (
            "manager.value",
            "The manager, looked up in the same tenant by id, then externalId, userName, email and employeeNumber.",
        ),
        (
            "manager.$ref",
            "The URI of the SCIM resource representing the User's manager.",
        ),
        ("manager.displayName", "The displayName of the User's manager."),
    ],
    canonical: &[],
    references: &[("manager.$ref", &["User"])],
};

const GROUP_NOTES: Notes = Notes {
    descriptions: &[
        (
            "displayName",
            "A human-readable name for the Group. Required, and unique per tenant, compared case-insensitively.",
        ),
        (
            "members",
            "The members of the Group: users and groups (child groups) of the same tenant, and ids that name neither, kept and returned as sent. Lists return them only when 'attributes' names them.",
        ),
        ("members.value", "The id of a member User or Group."),
        (
            "members.$ref",
            "The URI of the member User or Group (absent for an id that names neither).",
        ),
        (
            "members.display",
            "The member's userName or displayName (as sent for an id that names neither).",
        ),
        (
            "members.type",
            "The kind of member: 'User' or 'Group' (as sent for an id that names neither).",
        ),
    ],
    canonical: &[("members.type", &["User", "Group"])],
    references: &[("members.$ref", &["User", "Group"])],
};

/// The common attributes (RFC 7643 §3.1), described the same in every schema.
const COMMON_NOTES: Notes = Notes {
    descriptions: &[
        (
            "id",
            "The resource's unique identifier, assigned by the service provider.",
        ),
        (
            "externalId",
            "The resource's identifier as the provisioning client knows it.",
        ),
        ("meta", "Resource metadata, maintained by the service provider."),
        ("meta.resourceType", "The name of the resource type."),
        ("meta.created", "When the resource was added."),
        ("meta.lastModified", "When the resource was last changed."),
        ("meta.location", "The URI of the resource."),
        (
            "meta.version",
            "The resource's version, a weak entity tag as in the ETag header.",
        ),
    ],
    canonical: &[],
    references: &[("meta.location", &["uri"])],
};

/// Sub-attributes that mean the same under every multi-valued attribute (RFC 7643 §2.4).
const GENERIC_SUBS: &[(&str, &str)] = &[
    (
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    (
        "type",
        "A label indicating the value's function, e.g. 'work' or 'home'.",
    ),
    (
        "primary",
        "Whether this is the primary value of the attribute. At most one value is primary.",
    ),
];

fn lookup<T: Copy>(table: &[(&str, T)], path: &str) -> Option<T> {
    table
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(path))
        .map(|(_, v)| *v)
}

fn description(notes: &Notes, path: &str) -> &'static str {
    lookup(notes.descriptions, path)
        .or_else(|| lookup(COMMON_NOTES.descriptions, path))
        .or_else(|| {
            let (_, sub) = path.split_once('.')?;
            lookup(GENERIC_SUBS, sub)
        })
        .unwrap_or_default()
}

fn attribute(a: &Attr, notes: &Notes, parent: Option<&str>) -> Value {
    let path = match parent {
        Some(p) => format!("{p}.{}", a.name),
        None => a.name.to_owned(),
    };
    let ty = a.ty.as_str();
    let mutability = a.mutability.as_str();
    let returned = match (a.mutability, path.as_str()) {
        (Mutability::WriteOnly, _) => "never",
        (_, "id") => "always",
        _ => a.returned.as_str(),
    };
    // A User's userName and a Group's displayName (the required one; a User's displayName is
    // optional and not unique) are unique per tenant, case-insensitively.
    let unique_name = a.required && matches!(a.name, "userName" | "displayName");
    let uniqueness = if unique_name || path == "id" {
        "server"
    } else {
        "none"
    };
    let mut v = json!({
        "name": a.name,
        "type": ty,
        "multiValued": a.multi,
        "description": description(notes, &path),
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    });
    if a.ty == Type::Complex {
        v["subAttributes"] = a.sub.iter().map(|s| attribute(s, notes, Some(&path))).collect();
    }
    if let Some(values) = lookup(notes.canonical, &path) {
        v["canonicalValues"] = json!(values);
    }
    if a.ty == Type::Reference {
        let kinds = lookup(notes.references, &path)
            .or_else(|| lookup(COMMON_NOTES.references, &path))
            .unwrap_or(&["external"]);
        v["referenceTypes"] = json!(kinds);
    }
    v
}

fn document(urn: &str, name: &str, description: &str, attrs: Vec<Value>, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attrs,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{urn}")}
    })
}

/// A core schema lists its own attributes plus `externalId`, which clients write; `id` and
/// `meta` are the server's and, as usual, described by RFC 7643 §3.1 rather than listed.
fn core_attributes(attrs: &[Attr], notes: &Notes) -> Vec<Value> {
    attrs
        .iter()
        .chain(COMMON.iter().filter(|a| a.name == "externalId"))
        .map(|a| attribute(a, notes, None))
        .collect()
}

/// Every schema this server implements, as `/Schemas` serves them under `base`.
pub fn all(base: &str) -> Vec<Value> {
    vec![
        document(
            USER_SCHEMA,
            "User",
            "User Account",
            core_attributes(USER, &USER_NOTES),
            base,
        ),
        document(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_USER
                .iter()
                .map(|a| attribute(a, &ENTERPRISE_NOTES, None))
                .collect(),
            base,
        ),
        document(
            GROUP_SCHEMA,
            "Group",
            "Group",
            core_attributes(GROUP, &GROUP_NOTES),
            base,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<'v>(attrs: &'v Value, out: &mut Vec<(String, &'v Value)>, parent: &str) {
        for a in attrs.as_array().expect("attributes") {
            let path = format!("{parent}{}", a["name"].as_str().expect("name"));
            if let Some(subs) = a.get("subAttributes") {
                walk(subs, out, &format!("{path}."));
            }
            out.push((path, a));
        }
    }

    #[test]
    fn every_attribute_is_fully_defined() {
        for doc in all("https://h/scim/v2") {
            let mut attrs = Vec::new();
            walk(&doc["attributes"], &mut attrs, "");
            for (path, a) in attrs {
                let at = format!("{}: {path}", doc["id"]);
                for key in [
                    "name",
                    "type",
                    "multiValued",
                    "description",
                    "required",
                    "caseExact",
                    "mutability",
                    "returned",
                    "uniqueness",
                ] {
                    assert!(a.get(key).is_some(), "{at} lacks {key}");
                }
                assert!(
                    !a["description"].as_str().unwrap().is_empty(),
                    "{at} has no description"
                );
                match a["type"].as_str().unwrap() {
                    "complex" => assert!(!a["subAttributes"].as_array().unwrap().is_empty(), "{at}"),
                    "reference" => assert!(!a["referenceTypes"].as_array().unwrap().is_empty(), "{at}"),
                    _ => assert!(a.get("subAttributes").is_none(), "{at}"),
                }
            }
        }
    }

    #[test]
    fn every_note_names_an_existing_attribute() {
        let docs = all("b");
        for (doc, notes) in docs.iter().zip([&USER_NOTES, &ENTERPRISE_NOTES, &GROUP_NOTES]) {
            let mut attrs = Vec::new();
            walk(&doc["attributes"], &mut attrs, "");
            let paths: Vec<&str> = attrs.iter().map(|(p, _)| p.as_str()).collect();
            let named = notes
                .descriptions
                .iter()
                .map(|(p, _)| *p)
                .chain(notes.canonical.iter().map(|(p, _)| *p))
                .chain(notes.references.iter().map(|(p, _)| *p));
            for p in named {
                assert!(paths.contains(&p), "{}: {p} is not an attribute", doc["id"]);
            }
        }
    }

    #[test]
    fn the_server_specific_rules_are_stated() {
        let docs = all("b");
        let find = |doc: &Value, name: &str| -> Value {
            doc["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == name)
                .cloned()
                .unwrap()
        };
        let user_name = find(&docs[0], "userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        let password = find(&docs[0], "password");
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(find(&docs[0], "groups")["mutability"], "readOnly");
        let emails = find(&docs[0], "emails");
        let ty = emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "type")
            .unwrap();
        assert_eq!(ty["canonicalValues"], json!(["work", "home", "other"]));
        let display_name = find(&docs[2], "displayName");
        assert_eq!(display_name["uniqueness"], "server");
        assert_eq!(find(&docs[0], "displayName")["uniqueness"], "none");
    }
}
