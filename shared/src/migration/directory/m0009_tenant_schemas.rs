//! `scim` migration 9: schema extensions a tenant defines for its users (RFC 7643 §7 documents).
//!
//! A new table and a column with a constant default: one transaction, no table rewrite.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0009_tenant_schemas",
    sql: r#"
-- A tenant's own extension of the User resource type: its RFC 7643 §7 schema document, as
-- checked and completed by the api. Values live in the users' documents under the URN.
create table scim.tenant_schemas (
    tenant_id uuid not null references scim.tenants(id) on delete cascade,
    urn text not null,
    document jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, urn)
);
create unique index tenant_schemas_urn_key on scim.tenant_schemas (tenant_id, lower(urn));

-- Bumped with every change of the tenant's schemas, and read with its token on every request:
-- an api process reloads a tenant's schemas only when this moved.
alter table scim.tenants add column schemas_version bigint not null default 0;
"#,
};
