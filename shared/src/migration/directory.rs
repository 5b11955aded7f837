use super::Migration;

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tenants, tokens, users, outbox",
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
    },
    Migration {
        version: 2,
        name: "groups and memberships",
        sql: r#"
-- Groups. `resource` holds the normalised attributes except `members`, which live one row per
-- (group, user) below, so a membership change never rewrites a large group.
create table scim.groups (
    id uuid primary key,
    tenant_id uuid not null references scim.tenants (id) on delete cascade,
    display_name text not null,
    -- displayName folded to lower case by the api (uniqueness is per tenant, case-insensitive).
    display_name_key text not null,
    external_id text,
    resource jsonb not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create unique index groups_tenant_display_name on scim.groups (tenant_id, display_name_key) where deleted_at is null;
create index groups_tenant_order on scim.groups (tenant_id, created_at, id) where deleted_at is null;

-- One row per (group, user) ever related. `member` false is a removal; the row stays so the
-- pair's version keeps increasing and a late, older message can never undo a newer change.
create table scim.group_members (
    group_id uuid not null references scim.groups (id) on delete cascade,
    user_id uuid not null references scim.users (id) on delete cascade,
    tenant_id uuid not null,
    member boolean not null,
    version bigint not null,
    updated_at timestamptz not null default now(),
    primary key (group_id, user_id)
);
create index group_members_user on scim.group_members (user_id) where member;
create index group_members_group_live on scim.group_members (group_id, user_id) where member;
"#,
    },
    Migration {
        version: 3,
        name: "group revisions",
        sql: r#"
-- What a group's ETag counts: every change a GET of the group shows, membership changes
-- included. `version` cannot serve: it orders the group's own change messages, which a
-- membership change does not send.
alter table scim.groups add column revision bigint not null default 1;
-- Until now the ETag was W/"<version>", which missed membership changes; start past every tag
-- issued so far, so that none of them can match a later state by accident.
update scim.groups set revision = version + 1;
"#,
    },
    Migration {
        version: 4,
        name: "audit log and admin sessions",
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
    },
    Migration {
        version: 5,
        name: "key-first name indexes",
        sql: r#"
-- The lookup an IdP makes before every create (`userName eq`, `displayName eq`) finds rows by
-- the key alone and checks the tenant on them (api `directory::by_key`). With the tenant first,
-- the planner could answer it from any tenant-prefixed index while its statistics still showed a
-- growing tenant as small, and read the whole tenant per lookup. Same uniqueness, key first.
create unique index users_user_name_tenant on scim.users (user_name_key, tenant_id) where deleted_at is null;
drop index scim.users_tenant_user_name;
create unique index groups_display_name_tenant on scim.groups (display_name_key, tenant_id) where deleted_at is null;
drop index scim.groups_tenant_display_name;
"#,
    },
    Migration {
        version: 6,
        name: "admin session CSRF tokens by hash",
        sql: r#"
-- CSRF tokens were kept as text, so whoever could read this table had a working token for every
-- open session. Only the token's SHA-256 is kept now; the token itself is derived from the
-- session id, which only the browser holds (see the api's admin::session). The open sessions
-- end, since their tokens cannot be derived: operators sign in again.
delete from scim.admin_sessions;
alter table scim.admin_sessions drop column csrf_token;
alter table scim.admin_sessions add column csrf_hash bytea not null;
"#,
    },
];
