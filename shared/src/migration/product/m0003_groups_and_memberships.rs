//! `product` migration 3: groups and memberships.
//!
//! Released, and recorded by the hand-written runner as version 3 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0003_groups_and_memberships",
    sql: r#"
create table product.groups (
    id uuid primary key,
    tenant_id uuid not null,
    name text not null,
    version bigint not null,
    updated_at timestamptz not null default now()
);
create index groups_tenant on product.groups (tenant_id);

create table product.group_members (
    group_id uuid not null references product.groups (id) on delete cascade,
    user_id uuid not null references product.users (id) on delete cascade,
    primary key (group_id, user_id)
);
create index group_members_user on product.group_members (user_id);

-- What the worker has applied, including deletions and removals (which leave no row in the
-- tables above): versions only ever move forward, so late messages cannot resurrect anything.
create table product.group_versions (
    id uuid primary key,
    tenant_id uuid not null,
    version bigint not null,
    deleted boolean not null
);
create table product.membership_versions (
    group_id uuid not null,
    user_id uuid not null,
    tenant_id uuid not null,
    version bigint not null,
    member boolean not null,
    primary key (group_id, user_id)
);
create index membership_versions_user on product.membership_versions (user_id) where member;
"#,
};
