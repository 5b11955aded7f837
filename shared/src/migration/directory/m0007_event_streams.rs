//! `scim` migration 7: change events (RFC 9967 SETs over RFC 8936 poll and RFC 8935 push).
//!
//! New tables only, so one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0007_event_streams",
    sql: r#"
-- A tenant's event streams. A poll stream is read by whoever holds its token (only the hash is
-- kept); a push stream is POSTed to `endpoint`. `position` is the highest sequence handed out
-- (poll) or delivered (push). `issuer` and `audience` are the SETs' `iss` (the SCIM base URL) and
-- `aud` (the stream's URL).
create table scim.event_streams (
    id uuid primary key,
    tenant_id uuid not null references scim.tenants(id) on delete cascade,
    delivery text not null check (delivery in ('poll', 'push')),
    endpoint text,
    authorization_header text,
    token_hash bytea unique,
    event_uris text[],
    payload text not null default 'full' check (payload in ('full', 'notice')),
    issuer text not null,
    audience text not null,
    position bigint not null default 0,
    paused_reason text,
    paused_at timestamptz,
    last_delivery_at timestamptz,
    last_error text,
    last_error_at timestamptz,
    attempts integer not null default 0,
    retry_at timestamptz,
    lease_until timestamptz,
    created_at timestamptz not null default now(),
    check ((delivery = 'poll') = (token_hash is not null)),
    check ((delivery = 'push') = (endpoint is not null))
);
create index event_streams_tenant on scim.event_streams (tenant_id);

-- One row per committed change of a tenant that has streams, written in the change's
-- transaction. `sequence` is given after commit by the sequencer, per tenant, gapless, in the
-- order the changes are seen committed (a change of a resource is always seen after the one
-- before it). No foreign key: rows are purged by age.
create table scim.events (
    id bigint generated always as identity primary key,
    tenant_id uuid not null,
    sequence bigint,
    txn uuid not null,
    resource_type text not null check (resource_type in ('User', 'Group')),
    resource_id uuid not null,
    external_id text,
    method text not null check (method in ('POST', 'PUT', 'PATCH', 'DELETE')),
    activation boolean,
    attributes text[] not null default '{}',
    data jsonb,
    version text,
    created_at timestamptz not null default now(),
    sequenced_at timestamptz
);
create unique index events_tenant_sequence on scim.events (tenant_id, sequence);
create index events_unsequenced on scim.events (tenant_id, id) where sequence is null;
create index events_created on scim.events (created_at);

-- The last sequence given per tenant; its row lock orders the sequencers of several replicas.
create table scim.event_sequences (
    tenant_id uuid primary key references scim.tenants(id) on delete cascade,
    last bigint not null
);

-- SETs handed to a poll stream and not acknowledged yet; handed out again after a timeout.
create table scim.event_pending (
    stream_id uuid not null references scim.event_streams(id) on delete cascade,
    sequence bigint not null,
    jti uuid not null,
    delivered_at timestamptz not null,
    primary key (stream_id, sequence)
);
create unique index event_pending_jti on scim.event_pending (stream_id, jti);

-- What receivers said about SETs they could not use (poll `setErrs`, push 400 answers).
create table scim.event_errors (
    id bigint generated always as identity primary key,
    stream_id uuid not null references scim.event_streams(id) on delete cascade,
    jti text not null,
    error_code text not null,
    description text,
    received_at timestamptz not null default now()
);
create index event_errors_stream on scim.event_errors (stream_id, id);

-- Keys that sign SETs. The newest unretired key signs; a retired key's public half stays
-- published (JWKS) for a grace period so that SETs signed before a rotation still verify.
create table scim.signing_keys (
    kid text primary key,
    algorithm text not null check (algorithm in ('EdDSA')),
    private_key bytea not null,
    public_jwk jsonb not null,
    created_at timestamptz not null default now(),
    retired_at timestamptz
);
"#,
};
