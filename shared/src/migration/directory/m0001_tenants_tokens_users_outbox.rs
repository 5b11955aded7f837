//! `scim` migration 1: tenants, tokens, users, outbox.
//!
//! Released, and recorded by the hand-written runner as version 1 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0001_tenants_tokens_users_outbox",
    sql: r#"
create table scim.tenants (
    id uuid primary key,
    name text not null,
    created_at timestamptz not null default now()
);

-- Only the SHA-256 of a token is kept; the token itself is shown once at creation.
create table scim.api_tokens (
    id uuid primary key,
    tenant_id uuid not null references scim.tenants (id) on delete cascade,
    token_hash bytea not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
create unique index api_tokens_hash on scim.api_tokens (token_hash);
create index api_tokens_tenant_live on scim.api_tokens (tenant_id) where revoked_at is null;

-- The SCIM directory. `resource` holds the normalised attributes (never a password);
-- id and meta are derived from the columns. A DELETE leaves a tombstone (deleted_at) so the
-- product can be re-derived, while the userName becomes free again.
create table scim.users (
    id uuid primary key,
    tenant_id uuid not null references scim.tenants (id) on delete cascade,
    user_name text not null,
    -- userName folded to lower case by the api (Unicode-aware, independent of the DB locale).
    user_name_key text not null,
    external_id text,
    active boolean not null,
    resource jsonb not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create unique index users_tenant_user_name on scim.users (tenant_id, user_name_key) where deleted_at is null;
create index users_tenant_order on scim.users (tenant_id, created_at, id) where deleted_at is null;
create index users_tenant_external_id on scim.users (tenant_id, external_id) where deleted_at is null;

-- Transactional outbox: written with the directory row, published after commit.
create table scim.outbox (
    id bigint generated always as identity primary key,
    message_id uuid not null,
    tenant_id uuid not null,
    routing_key text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    published_at timestamptz
);
create index outbox_pending on scim.outbox (id) where published_at is null;
create index outbox_published_at on scim.outbox (published_at) where published_at is not null;
"#,
};
