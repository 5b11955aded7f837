//! `product` migration 8: roles and entitlements.
//!
//! `product.user_roles` holds every role a user has: the ones the IdP set on the user (kept on
//! the user row as `idp_roles`, with the one it marked primary in `idp_primary_role`) and the
//! ones the tenant's role mapping gives the groups the user is an effective member of
//! (`product.role_mappings`, the mapping version the worker applied). At most one row of a user
//! is primary. `product.user_entitlements` holds the entitlements the IdP set on the user.
//! The worker derives both (see the worker's `roles`).
//!
//! The two columns come with constant defaults, so adding them rewrites nothing.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0008_user_roles_and_entitlements",
    sql: r#"
alter table product.users
    add column idp_roles text[] not null default '{}',
    add column idp_primary_role text;

create table product.user_roles (
    user_id uuid not null references product.users (id) on delete cascade,
    role text not null,
    is_primary boolean not null default false,
    primary key (user_id, role)
);

create table product.user_entitlements (
    user_id uuid not null references product.users (id) on delete cascade,
    entitlement text not null,
    primary key (user_id, entitlement)
);

-- `derived_after`: the last user (in id order) whose roles were re-derived under `version`;
-- `finished_at` once every user of the tenant was.
create table product.role_mappings (
    tenant_id uuid primary key,
    version bigint not null,
    rules jsonb not null default '[]',
    derived_after uuid,
    finished_at timestamptz
);
"#,
};
