//! The change message: what the api publishes for every committed directory change and what the
//! worker applies. Self-contained (the full post-change snapshot) and versioned per resource,
//! so a worker never needs to read the directory and can drop stale or repeated messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Bumped when the message layout changes incompatibly; workers reject formats they do not know.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeMessage {
    pub format: u32,
    pub message_id: Uuid,
    pub tenant_id: Uuid,
    pub resource_id: Uuid,
    /// Per-resource, strictly increasing in commit order (the directory row is locked while it
    /// is bumped, or bumped by one statement that applies only to the version it read).
    pub version: i64,
    pub operation: Operation,
    pub occurred_at: DateTime<Utc>,
    /// W3C `traceparent` of the api request that made the change, for following it end to end.
    /// Optional, so messages written before it existed still decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The RFC 9967 `txn` of the asynchronous request that made the change, whose completion
    /// the worker records once the change is applied; none for ordinary requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<Uuid>,
    /// A backfill after the tenant's mapping changed: the same version as the product may
    /// already have, derived anew, so it is applied over an equal version too (never over a
    /// newer one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reapply: bool,
    #[serde(flatten)]
    pub resource: Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Created,
    Updated,
    Deleted,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Created => "created",
            Operation::Updated => "updated",
            Operation::Deleted => "deleted",
        }
    }
}

/// The resource the message is about, with its post-change snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resource_type", content = "snapshot")]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per message; boxing buys nothing"
)]
pub enum Resource {
    User(UserSnapshot),
    Group(GroupSnapshot),
    /// One (group, user) pair; the message's `resource_id` is the group and its `version` is
    /// the pair's own version, so membership messages stay small whatever the group's size.
    Membership(MembershipSnapshot),
    /// One (parent, child group) pair of nested groups; `resource_id` is the parent and
    /// `version` the pair's own version, as for memberships. A worker that predates nesting
    /// cannot decode it and dead-letters it, to be replayed once workers are upgraded, rather
    /// than mistaking the child for a user.
    ChildGroup(ChildGroupSnapshot),
    /// The tenant's group→role rules after an admin changed them; `resource_id` is the tenant
    /// and `version` the mapping's own version. The worker stores them iff newer and re-derives
    /// the tenant's users' roles. A worker that predates it dead-letters it (see `ChildGroup`).
    RoleMapping(RoleMappingSnapshot),
}

impl Resource {
    pub fn type_name(&self) -> &'static str {
        match self {
            Resource::User(_) => "user",
            Resource::Group(_) => "group",
            Resource::Membership(_) => "membership",
            Resource::ChildGroup(_) => "child_group",
            Resource::RoleMapping(_) => "role_mapping",
        }
    }
}

/// A group without its members (those travel as [`MembershipSnapshot`]s).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupSnapshot {
    pub display_name: String,
    pub external_id: Option<String>,
    /// true once the SCIM group was deleted: the product drops it with its memberships.
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipSnapshot {
    pub user_id: Uuid,
    /// false after a removal.
    pub member: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildGroupSnapshot {
    pub child_id: Uuid,
    /// false after a removal.
    pub member: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleMappingSnapshot {
    pub rules: Vec<crate::domain::roles::RoleRule>,
}

/// A user as the product needs it, derived from the SCIM resource by the api.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub user_name: String,
    pub external_id: Option<String>,
    /// false after deactivation and after a DELETE.
    pub active: bool,
    /// true once the SCIM resource was deleted (the product keeps the row, inactive).
    pub deleted: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The primary email, else the first work email, else the first email.
    pub email: Option<String>,
    /// Every email value, for resolving managers referenced by email.
    pub emails: Vec<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub employee_number: Option<String>,
    /// `manager.value` as the IdP sent it: our id, or an email, login or employee number.
    pub manager: Option<String>,
    /// The rest of the enterprise extension (absent from messages written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// Values the tenant's mapping puts under `product.users.attributes` (none: `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// `roles[].value` as the IdP set them, and the one it marked `primary` (absent from
    /// messages written before roles existed: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_role: Option<String>,
    /// `entitlements[].value` as the IdP set them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
}

impl ChangeMessage {
    pub fn new(
        tenant_id: Uuid,
        resource_id: Uuid,
        version: i64,
        operation: Operation,
        occurred_at: DateTime<Utc>,
        resource: Resource,
    ) -> Self {
        Self {
            format: FORMAT,
            message_id: Uuid::now_v7(),
            tenant_id,
            resource_id,
            version,
            operation,
            occurred_at,
            traceparent: None,
            txn: None,
            reapply: false,
            resource,
        }
    }

    /// Routing key on the changes exchange, e.g. `user.updated`.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.resource.type_name(), self.operation.as_str())
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a change message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported message format {0} (this worker understands {FORMAT})")]
    Format(u32),
}

/// Parses a delivery body; a message that fails here is poison and goes to the dead-letter queue.
pub fn decode(body: &[u8]) -> Result<ChangeMessage, DecodeError> {
    let msg: ChangeMessage = serde_json::from_slice(body)?;
    if msg.format != FORMAT {
        return Err(DecodeError::Format(msg.format));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChangeMessage {
        ChangeMessage::new(
            Uuid::now_v7(),
            Uuid::now_v7(),
            3,
            Operation::Updated,
            Utc::now(),
            Resource::User(UserSnapshot {
                user_name: "ada@example.com".into(),
                active: true,
                ..Default::default()
            }),
        )
    }

    #[test]
    fn a_message_survives_a_round_trip() {
        let m = sample();
        assert_eq!(decode(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn the_wire_form_names_the_resource_type_and_snapshot() {
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        assert_eq!(v["resource_type"], "User");
        assert_eq!(v["snapshot"]["user_name"], "ada@example.com");
        assert_eq!(v["version"], 3);
    }

    #[test]
    fn a_user_message_written_before_roles_existed_still_decodes() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        let snapshot = v["snapshot"].as_object_mut().unwrap();
        assert!(!snapshot.contains_key("roles") && !snapshot.contains_key("entitlements"));
        snapshot.remove("attributes");
        let m = decode(v.to_string().as_bytes()).unwrap();
        let Resource::User(u) = m.resource else {
            panic!("a user")
        };
        assert!(u.roles.is_empty() && u.primary_role.is_none() && u.entitlements.is_empty());
    }

    #[test]
    fn routing_keys_name_type_and_operation() {
        assert_eq!(sample().routing_key(), "user.updated");
    }

    #[test]
    fn unknown_resource_types_and_formats_are_rejected() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        v["resource_type"] = "Printer".into();
        assert!(decode(v.to_string().as_bytes()).is_err());
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        v["format"] = 99.into();
        assert!(matches!(
            decode(v.to_string().as_bytes()),
            Err(DecodeError::Format(99))
        ));
        assert!(decode(b"{not json").is_err());
    }
}
