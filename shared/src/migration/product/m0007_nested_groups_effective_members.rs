//! `product` migration 7: nested groups and effective membership.
//!
//! `product.group_children` holds the child groups a group has (both ends present), with their
//! ledger `product.nesting_versions` (as `membership_versions` for users), and
//! `product.group_effective_members` the transitive closure: every user that is a member of the
//! group directly or through any chain of child groups. The worker maintains it incrementally
//! (see the worker's `nesting`); this migration fills it from today's direct memberships, which
//! is the whole closure while no group has a child. `product.nested_tenants` names the tenants
//! that have ever nested a group: only their membership changes take the tenant's nesting lock.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0007_nested_groups_effective_members",
    sql: r#"
create table product.group_children (
    group_id uuid not null references product.groups (id) on delete cascade,
    child_id uuid not null references product.groups (id) on delete cascade,
    primary key (group_id, child_id)
);
create index group_children_child on product.group_children (child_id);

create table product.nesting_versions (
    group_id uuid not null,
    child_id uuid not null,
    tenant_id uuid not null,
    version bigint not null,
    member boolean not null,
    primary key (group_id, child_id)
);
create index nesting_versions_child on product.nesting_versions (child_id) where member;

create table product.group_effective_members (
    group_id uuid not null references product.groups (id) on delete cascade,
    user_id uuid not null references product.users (id) on delete cascade,
    primary key (group_id, user_id)
);
create index group_effective_members_user on product.group_effective_members (user_id);

create table product.nested_tenants (
    tenant_id uuid primary key
);

insert into product.group_effective_members (group_id, user_id)
select group_id, user_id from product.group_members;
"#,
};
