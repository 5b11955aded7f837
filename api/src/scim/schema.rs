//! Attribute definitions of the schemas this server implements (RFC 7643 §4.1, §4.3). They drive
//! input normalisation (canonical names, types, mutability), filters and PATCH paths.

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub use shared::domain::user::ENTERPRISE_USER_SCHEMA;
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl Type {
    /// The name RFC 7643 §7 gives the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::DateTime => "dateTime",
            Type::Reference => "reference",
            Type::Complex => "complex",
            Type::Binary => "binary",
        }
    }

    pub fn is_number(self) -> bool {
        matches!(self, Type::Decimal | Type::Integer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    /// Set once (on create, or the first time it has a value), never changed after.
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is in a response (RFC 7643 §7 `returned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    /// Only when named in `attributes`.
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub case_exact: bool,
    pub required: bool,
    /// False where an assigned value may be replaced but never unassigned (a PATCH `remove`, or
    /// null): a User's `active` (see `patch::keep_required`).
    pub removable: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub sub: &'static [Attr],
}

impl Attr {
    /// Finds a sub-attribute by name, ignoring case (attribute names are case-insensitive).
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        find(self.sub, name)
    }
}

pub fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

const fn s(name: &'static str) -> Attr {
    Attr {
        name,
        ty: Type::String,
        multi: false,
        case_exact: false,
        required: false,
        removable: true,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        sub: &[],
    }
}
const fn b(name: &'static str) -> Attr {
    Attr {
        ty: Type::Boolean,
        ..s(name)
    }
}
const fn r(name: &'static str) -> Attr {
    Attr {
        ty: Type::Reference,
        case_exact: true,
        ..s(name)
    }
}
const fn complex(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        ty: Type::Complex,
        sub,
        ..s(name)
    }
}
const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        ty: Type::Complex,
        multi: true,
        sub,
        ..s(name)
    }
}

const MULTI_SUB: &[Attr] = &[s("value"), s("display"), s("type"), b("primary")];
const PHOTO_SUB: &[Attr] = &[r("value"), s("display"), s("type"), b("primary")];
const CERT_SUB: &[Attr] = &[
    Attr {
        ty: Type::Binary,
        case_exact: true,
        ..s("value")
    },
    s("display"),
    s("type"),
    b("primary"),
];
const ADDRESS_SUB: &[Attr] = &[
    s("formatted"),
    s("streetAddress"),
    s("locality"),
    s("region"),
    s("postalCode"),
    s("country"),
    s("type"),
    b("primary"),
];
const NAME_SUB: &[Attr] = &[
    s("formatted"),
    s("familyName"),
    s("givenName"),
    s("middleName"),
    s("honorificPrefix"),
    s("honorificSuffix"),
];
const GROUP_REF_SUB: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..s("value")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..r("$ref")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..s("display")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..s("type")
    },
];
const META_SUB: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..s("resourceType")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ty: Type::DateTime,
        ..s("created")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ty: Type::DateTime,
        ..s("lastModified")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..r("location")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..s("version")
    },
];

/// Attributes every resource has (RFC 7643 §3.1); all read-only.
pub const COMMON: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..s("id")
    },
    Attr {
        case_exact: true,
        ..s("externalId")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..complex("meta", META_SUB)
    },
];

/// Core User (RFC 7643 §4.1), without the common attributes.
pub const USER: &[Attr] = &[
    Attr {
        required: true,
        ..s("userName")
    },
    complex("name", NAME_SUB),
    s("displayName"),
    s("nickName"),
    r("profileUrl"),
    s("title"),
    s("userType"),
    s("preferredLanguage"),
    s("locale"),
    s("timezone"),
    // Here a user without `active` is active, so unassigning it would reactivate a deactivated
    // user: it can be replaced, not removed (RFC 7643 §4.1.1 leaves its meaning to us).
    Attr {
        removable: false,
        ..b("active")
    },
    Attr {
        mutability: Mutability::WriteOnly,
        case_exact: true,
        ..s("password")
    },
    multi("emails", MULTI_SUB),
    multi("phoneNumbers", MULTI_SUB),
    multi("ims", MULTI_SUB),
    multi("photos", PHOTO_SUB),
    multi("addresses", ADDRESS_SUB),
    Attr {
        mutability: Mutability::ReadOnly,
        ..multi("groups", GROUP_REF_SUB)
    },
    multi("entitlements", MULTI_SUB),
    multi("roles", MULTI_SUB),
    multi("x509Certificates", CERT_SUB),
];

const MANAGER_SUB: &[Attr] = &[
    Attr {
        case_exact: true,
        ..s("value")
    },
    r("$ref"),
    Attr {
        mutability: Mutability::ReadOnly,
        ..s("displayName")
    },
];

/// Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &[Attr] = &[
    s("employeeNumber"),
    s("costCenter"),
    s("organization"),
    s("division"),
    s("department"),
    complex("manager", MANAGER_SUB),
];

/// A member reference. `value` names a user of the tenant; `$ref` and `display` are derived by
/// the server (ignored on input); `type` is accepted ("User" is the only kind we keep).
const MEMBER_SUB: &[Attr] = &[
    Attr {
        case_exact: true,
        ..s("value")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..r("$ref")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..s("display")
    },
    s("type"),
];

/// Core Group (RFC 7643 §4.2), without the common attributes.
pub const GROUP: &[Attr] = &[
    Attr {
        required: true,
        ..s("displayName")
    },
    multi("members", MEMBER_SUB),
];

/// A resource type's schemas: the core attributes, plus each extension with its URN.
#[derive(Debug)]
pub struct ResourceSchema {
    pub core_urn: &'static str,
    pub core: &'static [Attr],
    pub extensions: &'static [(&'static str, &'static [Attr])],
}

pub const USER_RESOURCE: ResourceSchema = ResourceSchema {
    core_urn: USER_SCHEMA,
    core: USER,
    extensions: &[(ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER)],
};

tokio::task_local! {
    /// The User schemas in force for the request being served: the tenant's own extensions
    /// beside the standard ones (set by authentication, see `tenant_schemas`).
    static USER_IN_FORCE: &'static ResourceSchema;
}

/// The User resource type as the current request's tenant has it: [`USER_RESOURCE`] plus the
/// tenant's own extensions; [`USER_RESOURCE`] outside a request or for a tenant without any.
pub fn user_resource() -> &'static ResourceSchema {
    USER_IN_FORCE.try_with(|s| *s).unwrap_or(&USER_RESOURCE)
}

/// Runs `f` with `schema` as the User schemas in force.
pub async fn with_user_resource<F: std::future::Future>(schema: &'static ResourceSchema, f: F) -> F::Output {
    USER_IN_FORCE.scope(schema, f).await
}

/// Groups have no extensions. Members are stored one row per (group, user), never in the
/// resource document: see `scim::members`.
pub const GROUP_RESOURCE: ResourceSchema = ResourceSchema {
    core_urn: GROUP_SCHEMA,
    core: GROUP,
    extensions: &[],
};

impl ResourceSchema {
    /// Looks a top-level attribute up among the core and common attributes.
    pub fn core_attr(&self, name: &str) -> Option<&'static Attr> {
        find(self.core, name).or_else(|| find(COMMON, name))
    }

    /// The canonical URN and attributes of an extension, matched case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<(&'static str, &'static [Attr])> {
        self.extensions
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .copied()
    }

    pub fn is_core_urn(&self, urn: &str) -> bool {
        self.core_urn.eq_ignore_ascii_case(urn)
    }

    /// Whether this resource type has the top-level attribute `attr` (of the extension `urn`,
    /// or of the core schema when `urn` is `None` or the core URN). A search over every type
    /// uses it to tell "no such attribute here" from "no such attribute anywhere".
    pub fn knows(&self, urn: Option<&str>, attr: &str) -> bool {
        match urn {
            None => self.core_attr(attr).is_some(),
            Some(u) if self.is_core_urn(u) => self.core_attr(attr).is_some(),
            Some(u) => self
                .extension(u)
                .is_some_and(|(_, attrs)| find(attrs, attr).is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_type_knows_its_core_common_and_extension_attributes() {
        assert!(USER_RESOURCE.knows(None, "USERNAME"));
        assert!(USER_RESOURCE.knows(None, "meta"));
        assert!(USER_RESOURCE.knows(Some(USER_SCHEMA), "emails"));
        assert!(USER_RESOURCE.knows(Some(ENTERPRISE_USER_SCHEMA), "department"));
        assert!(!USER_RESOURCE.knows(None, "members"));
        assert!(!USER_RESOURCE.knows(Some(GROUP_SCHEMA), "displayName"));
        assert!(GROUP_RESOURCE.knows(None, "members"));
        assert!(!GROUP_RESOURCE.knows(Some(ENTERPRISE_USER_SCHEMA), "department"));
    }
}
