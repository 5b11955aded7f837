//! `scim` migration 13: the roles and entitlements a tenant's admin defines (what `/Roles` and
//! `/Entitlements` list and what users' `roles` and `entitlements` are checked against), and the
//! tenant's mapping of groups to roles with the progress of the re-derivation that follows a
//! change of it.
//!
//! New tables only: one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0013_roles_and_entitlements",
    sql: r#"
-- `kind` 'role' or 'entitlement'; `value` is what a user's roles[].value or entitlements[].value
-- names, and the resource's id under /Roles or /Entitlements.
create table scim.tenant_access (
    tenant_id uuid not null references scim.tenants(id) on delete cascade,
    kind text not null check (kind in ('role', 'entitlement')),
    value text not null,
    display text,
    type text,
    description text,
    primary key (tenant_id, kind, value)
);

-- `rules`: [{"group": displayName, "role": name, "priority": int}]. `version` goes up with every
-- change and travels with the RoleMapping message; the worker reports how far it has re-derived
-- that version's users in `derived_version`/`derived_done` (out of `users_total`).
create table scim.tenant_role_mappings (
    tenant_id uuid primary key references scim.tenants(id) on delete cascade,
    rules jsonb not null default '[]',
    version bigint not null,
    updated_at timestamptz not null default now(),
    users_total bigint not null default 0,
    derived_version bigint not null default 0,
    derived_done bigint not null default 0,
    derived_at timestamptz
);
"#,
};
