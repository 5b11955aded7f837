//! `scim` migration 2: groups and memberships.
//!
//! Released, and recorded by the hand-written runner as version 2 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0002_groups_and_memberships",
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
};
