//! Server-side metadata of a stored resource (RFC 7643 §3.1 `meta`), shared by every resource
//! type: the columns it comes from and how it is rendered.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Meta {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// The version of the resource's own change messages.
    pub version: i64,
    /// What the ETag (`meta.version`) counts: it moves with every change a GET of the resource
    /// shows. For a user that is its version. A group's also moves when its members change,
    /// which its version does not (members travel in messages of their own). A user's
    /// read-only `groups` is the exception: it is derived from group memberships, and a change
    /// of membership does not move the ETag of every member.
    pub revision: i64,
}

impl Meta {
    /// Weak ETag: equal revisions mean semantically equal resources (RFC 7644 §3.14).
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.revision)
    }

    /// The `meta` object of a resource of `resource_type`, served under `{base_url}/{endpoint}`.
    pub fn render(&self, resource_type: &str, endpoint: &str, base_url: &str) -> Value {
        json!({
            "resourceType": resource_type,
            "created": timestamp(self.created),
            "lastModified": timestamp(self.last_modified),
            "location": format!("{base_url}/{endpoint}/{}", self.id),
            "version": self.etag(),
        })
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
