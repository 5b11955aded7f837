//! The bodies `/admin/api` accepts and returns. They are the API's contract, kept apart from the
//! rows and broker figures they are made from so that a change inside does not change the API
//! unnoticed; the OpenAPI document describes them from these definitions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use shared::dlq;

use crate::activity;
use crate::admin::{broker, sync, tenants};
use crate::tokens::IssuedToken;

#[derive(Deserialize, ToSchema)]
pub struct NewTenant {
    #[schema(min_length = 1)]
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Rows to return (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the live SCIM token was issued; null when the tenant has none.
    pub token_issued_at: Option<DateTime<Utc>>,
}

impl From<tenants::Tenant> for Tenant {
    fn from(t: tenants::Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            token_issued_at: t.token_issued_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<Tenant>,
}

/// Live users and groups of a tenant.
#[derive(Serialize, ToSchema)]
pub struct Counts {
    pub users: i64,
    pub active_users: i64,
    pub groups: i64,
}

impl From<tenants::Counts> for Counts {
    fn from(c: tenants::Counts) -> Self {
        Self {
            users: c.users,
            active_users: c.active_users,
            groups: c.groups,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantDetail {
    pub tenant: Tenant,
    /// What the identity provider's SCIM connector is configured with.
    pub scim_base_url: String,
    pub counts: Counts,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTenant {
    pub tenant_id: Uuid,
    pub name: String,
    /// The SCIM bearer token. Shown once.
    pub token: String,
    pub scim_base_url: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = IssuedToken)]
pub struct NewToken {
    pub tenant_id: Uuid,
    /// The SCIM bearer token. Shown once.
    pub token: String,
}

impl From<IssuedToken> for NewToken {
    fn from(t: IssuedToken) -> Self {
        Self {
            tenant_id: t.tenant_id,
            token: t.token,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub tenant_id: Uuid,
    /// How many live tokens were revoked.
    pub revoked: u64,
}

/// One SCIM request the tenant's identity provider made.
#[derive(Serialize, ToSchema)]
pub struct Activity {
    pub at: DateTime<Utc>,
    /// What the identity provider did, in the words of its admin console.
    #[schema(schema_with = operation_schema)]
    pub operation: &'static str,
    pub method: String,
    #[schema(examples("/Users/{id}"))]
    pub route: String,
    #[schema(schema_with = resource_type_schema)]
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub status: i16,
    pub latency_ms: i32,
    /// The SCIM error type (e.g. `uniqueness`) or the status reason.
    pub outcome: String,
    /// The identity provider the User-Agent names (`Okta`, `Microsoft Entra ID`, `OneLogin`,
    /// `JumpCloud`, `Ping Identity`, `Rippling`, `SailPoint`, `authentik`, `Keycloak`), or null.
    pub idp: Option<&'static str>,
    /// The client's User-Agent (truncated).
    pub client: Option<String>,
    /// The request's W3C trace id (32 hex digits): the api's and the workers' log lines for this
    /// change carry it.
    pub trace_id: Option<String>,
}

impl From<activity::Activity> for Activity {
    fn from(a: activity::Activity) -> Self {
        Self {
            operation: a.operation(),
            idp: a.idp(),
            at: a.at,
            method: a.method,
            route: a.route,
            resource_type: a.resource_type,
            resource_id: a.resource_id,
            status: a.status,
            latency_ms: a.latency_ms,
            outcome: a.outcome,
            client: a.client,
            trace_id: a.trace_id,
        }
    }
}

/// The values `activity::Activity::operation` gives.
fn operation_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "create",
            "read",
            "list",
            "replace",
            "update",
            "delete",
            "discovery",
            "other",
        ]))
        .into()
}

/// Null for discovery requests.
fn resource_type_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([Some("User"), Some("Group"), None]))
        .into()
}

#[derive(Serialize, ToSchema)]
pub struct ActivityList {
    pub tenant_id: Uuid,
    /// Newest first.
    pub activity: Vec<Activity>,
}

/// Messages waiting in a queue and consumers attached to it.
#[derive(Serialize, ToSchema)]
pub struct QueueDepth {
    pub messages: u32,
    pub consumers: u32,
}

impl From<dlq::QueueDepth> for QueueDepth {
    fn from(q: dlq::QueueDepth) -> Self {
        Self {
            messages: q.messages,
            consumers: q.consumers,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Outbox {
    /// Changes committed but not yet confirmed by RabbitMQ.
    pub pending: i64,
    pub oldest_pending_seconds: Option<f64>,
}

impl From<sync::Outbox> for Outbox {
    fn from(o: sync::Outbox) -> Self {
        Self {
            pending: o.pending,
            oldest_pending_seconds: o.oldest_pending_seconds,
        }
    }
}

/// RabbitMQ's side; only `reachable` when it does not answer.
#[derive(Serialize, ToSchema)]
pub struct BrokerFigures {
    pub reachable: bool,
    /// Changes of every tenant waiting for a worker, and workers consuming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_queue: Option<QueueDepth>,
    /// Changes of tenants past their interactive share waiting in the bulk lane (all tenants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_queue: Option<QueueDepth>,
    /// Dead letters of this tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<usize>,
    /// Dead letters of every tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters_total: Option<u32>,
}

impl BrokerFigures {
    pub fn unreachable() -> Self {
        Self {
            reachable: false,
            changes_queue: None,
            bulk_queue: None,
            dead_letters: None,
            dead_letters_total: None,
        }
    }
}

impl From<broker::TenantQueues> for BrokerFigures {
    fn from(q: broker::TenantQueues) -> Self {
        Self {
            reachable: true,
            changes_queue: Some(q.changes_queue.into()),
            bulk_queue: Some(q.bulk_queue.into()),
            dead_letters: Some(q.dead_letters.len()),
            dead_letters_total: Some(q.dead_letters_total),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Sync {
    pub tenant_id: Uuid,
    pub outbox: Outbox,
    pub broker: BrokerFigures,
}

/// A change the workers could not apply: what it was and why it failed, never its body.
#[derive(Serialize, ToSchema)]
pub struct DeadLetter {
    /// What the Retry call names (or `message_id` when absent).
    pub id: Option<String>,
    /// Why the worker gave up on it.
    pub reason: Option<String>,
    pub attempts: Option<i64>,
    /// RFC 3339.
    pub failed_at: Option<String>,
    pub routing_key: Option<String>,
    pub message_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: Option<String>,
    pub version: Option<i64>,
    /// Size of the message body.
    pub bytes: usize,
}

impl From<dlq::DeadLetter> for DeadLetter {
    fn from(l: dlq::DeadLetter) -> Self {
        Self {
            id: l.id,
            reason: l.reason,
            attempts: l.attempts,
            failed_at: l.failed_at,
            routing_key: l.routing_key,
            message_id: l.message_id,
            tenant_id: l.tenant_id,
            resource_id: l.resource_id,
            version: l.version,
            bytes: l.bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetters {
    pub tenant_id: Uuid,
    /// The tenant's dead letters among the first `examined` of the queue.
    pub dead_letters: Vec<DeadLetter>,
    /// How many dead letters were looked at (at most 1000).
    pub examined: usize,
    /// Dead letters of every tenant.
    pub dead_letters_total: u32,
}

impl DeadLetters {
    pub fn of(tenant_id: Uuid, q: broker::TenantQueues) -> Self {
        Self {
            tenant_id,
            dead_letters: q.dead_letters.into_iter().map(Into::into).collect(),
            examined: q.examined,
            dead_letters_total: q.dead_letters_total,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub tenant_id: Uuid,
    /// Always 1: the one dead letter named.
    #[schema(minimum = 1, maximum = 1)]
    pub replayed: u8,
}

/// `POST /admin/api/tenants/{id}/event-streams`.
#[derive(Deserialize, ToSchema)]
pub struct NewEventStream {
    /// `poll` (RFC 8936) or `push` (RFC 8935).
    pub delivery: String,
    /// Push: the receiver's URL (https, outside loopback and private ranges).
    pub endpoint: Option<String>,
    /// Push: the `Authorization` header value sent with every SET, e.g. `Bearer …`.
    pub authorization: Option<String>,
    /// The event URIs the stream takes (`urn:ietf:params:scim:event:prov:…`); all when absent.
    pub events: Option<Vec<String>>,
    /// `full` (the resource, the default) or `notice` (the changed attribute paths).
    pub payload: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEventStream {
    pub stream_id: Uuid,
    pub delivery: String,
    /// Poll streams: where to POST RFC 8936 poll requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_url: Option<String>,
    /// Poll streams: the bearer token for `poll_url`, shown in this response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventStream {
    pub stream_id: Uuid,
    pub delivery: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_url: Option<String>,
    /// The event URIs it takes; null: every one.
    pub events: Option<Vec<String>>,
    pub payload: String,
    /// The last event sequence handed out (poll) or delivered (push).
    pub position: i64,
    /// Events of the tenant after `position` (before the stream's filter).
    pub backlog: i64,
    /// Poll: SETs handed out and not acknowledged yet.
    pub unacknowledged: u64,
    pub last_delivery_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct EventStreamList {
    pub streams: Vec<EventStream>,
}

/// `POST …/event-streams/{sid}/replay`.
#[derive(Deserialize, ToSchema)]
pub struct Replay {
    /// RFC 3339: SETs of changes recorded at or after this time are sent again.
    pub from: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Replaying {
    pub stream_id: Uuid,
    /// The stream continues after this sequence.
    pub position: i64,
}

/// A tenant's schema extension (`/admin/api/tenants/{id}/schemas/{urn}`).
#[derive(Serialize, ToSchema)]
pub struct SchemaExtension {
    /// The URN, spelled as first defined.
    pub urn: String,
    /// The RFC 7643 §7 schema document as stored: checked, and completed with the defaults.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SchemaExtensionList {
    pub schemas: Vec<SchemaExtension>,
}

/// One rule of a tenant's mapping into `product.users`.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct MappingRule {
    /// A SCIM attribute path of the tenant's users: `title`, `name.middleName`,
    /// `urn:ietf:params:scim:schemas:extension:acme:2.0:User:location`, `…:desk.floor`.
    pub from: String,
    /// A product column (`department`, `job_title`, `employee_number`, `cost_center`,
    /// `organization`, `division`) or `attributes.<key>`.
    pub to: String,
}

/// `PUT /admin/api/tenants/{id}/mapping`.
#[derive(Deserialize, ToSchema)]
pub struct NewMapping {
    pub mappings: Vec<MappingRule>,
    /// Count what would change and show a sample, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Where the backfill after the last mapping change stands.
#[derive(Serialize, ToSchema)]
pub struct Backfill {
    /// Users to send to the workers again, and sent so far.
    pub total: i64,
    pub done: i64,
    pub running: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A tenant's mapping, with the backfill's progress.
#[derive(Serialize, ToSchema)]
pub struct MappingView {
    pub mappings: Vec<MappingRule>,
    pub backfill: Option<Backfill>,
}

/// What a mapping change does (or, in a dry run, would do).
#[derive(Serialize, ToSchema)]
pub struct MappingOutcome {
    pub dry_run: bool,
    /// The rules, with canonical attribute names.
    pub mappings: Vec<MappingRule>,
    /// The tenant's users, and those whose product row changes.
    pub users: u64,
    pub changed: u64,
    /// A few users' product values before and after.
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<serde_json::Value>,
    pub backfill: Option<Backfill>,
}
