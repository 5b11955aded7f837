//! `product` migration 1: users.
//!
//! Released, and recorded by the hand-written runner as version 1 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0001_users",
    sql: r#"
-- What the rest of the product reads. `id` is the SCIM id; `version` is the directory version
-- last applied, so older or repeated change messages are ignored.
create table product.users (
    id uuid primary key,
    tenant_id uuid not null,
    user_name text not null,
    email text,
    first_name text,
    last_name text,
    department text,
    job_title text,
    manager_id uuid references product.users (id) on delete set null,
    active boolean not null,
    version bigint not null,
    updated_at timestamptz not null default now()
);
create index users_tenant on product.users (tenant_id);
"#,
};
