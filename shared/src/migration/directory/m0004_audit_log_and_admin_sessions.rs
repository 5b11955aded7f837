//! `scim` migration 4: audit log and admin sessions.
//!
//! Released, and recorded by the hand-written runner as version 4 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0004_audit_log_and_admin_sessions",
    sql: r#"
-- What identity providers did, one row per SCIM request attributed to a tenant (never a body).
-- Written best-effort by the api in batches and purged after a retention period; the admin page
-- reads a tenant's latest rows.
create table scim.audit (
    id bigint generated always as identity primary key,
    at timestamptz not null,
    tenant_id uuid not null,
    method text not null,
    -- The route template (`/Users/{id}`), not the raw path: no query strings, no filters.
    route text not null,
    resource_type text,
    resource_id uuid,
    status smallint not null,
    latency_ms integer not null,
    -- A few words: the status reason or the SCIM error type (`uniqueness`), never a detail text.
    outcome text not null,
    client text,
    -- The request's W3C trace id: the same id is in the api's and the workers' log lines.
    trace_id text
);
create index audit_tenant_at on scim.audit (tenant_id, at desc);
create index audit_at on scim.audit (at);

-- Signed-in admin page sessions. Only the SHA-256 of the session id (a cookie) is kept. The
-- admin key fingerprint ties a session to the ADMIN_TOKEN it was opened with, so changing the
-- key ends every session.
create table scim.admin_sessions (
    id_hash bytea primary key,
    key_fingerprint bytea not null,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index admin_sessions_expires_at on scim.admin_sessions (expires_at);
"#,
};
