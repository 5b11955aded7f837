//! `scim` migration 12: nested groups and member references the directory does not know.
//!
//! A group's members may be users (`scim.group_members`), groups of the tenant (child groups,
//! `scim.group_children`, versioned like user memberships so the product applies them in
//! order), or ids that name neither: a user deleted a moment ago, one never provisioned, a test
//! client's invented id. Those are kept as sent (`scim.group_member_refs`) and returned as sent,
//! so one stale id never fails a whole request; they never reach the product. New tables only:
//! one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0012_nested_groups_and_member_refs",
    sql: r#"
-- One row per (parent, child) ever related; `member` false is a removal, kept so the pair's
-- version only increases (as in scim.group_members). A group is never its own child; longer
-- cycles are refused by the api under the tenant's nesting lock.
create table scim.group_children (
    group_id uuid not null references scim.groups (id) on delete cascade,
    child_id uuid not null references scim.groups (id) on delete cascade,
    tenant_id uuid not null,
    member boolean not null,
    version bigint not null,
    updated_at timestamptz not null default now(),
    primary key (group_id, child_id),
    check (group_id <> child_id)
);
create index group_children_child on scim.group_children (child_id) where member;
create index group_children_group_live on scim.group_children (group_id, child_id) where member;

-- Members that are neither a live user nor a live group of the tenant, as the client sent them.
create table scim.group_member_refs (
    group_id uuid not null references scim.groups (id) on delete cascade,
    value text not null,
    tenant_id uuid not null,
    type text,
    display text,
    created_at timestamptz not null default now(),
    primary key (group_id, value)
);
"#,
};
