//! `product` migration 5: key indexes the tenant index cannot stand in for.
//!
//! Released, and recorded by the hand-written runner as version 5 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0005_key_indexes_apart_from_tenant",
    sql: r#"
-- Manager references are resolved per key within a tenant. With (tenant_id, key) indexes the
-- planner could answer any key's lookup from any of them (or from users_tenant) while its
-- statistics still showed a new tenant as small, and walked the whole tenant for each lookup.
-- The worker compares `tenant_id::text`, which only these indexes hold (worker managers.rs).
drop index product.users_key_user_name;
create index users_key_user_name on product.users (lower(user_name), (tenant_id::text));
drop index product.users_key_external_id;
create index users_key_external_id on product.users (external_id, (tenant_id::text));
drop index product.users_key_employee_number;
create index users_key_employee_number on product.users (employee_number, (tenant_id::text));
drop index product.users_manager_ref;
create index users_manager_ref on product.users (lower(manager_ref), (tenant_id::text)) where manager_ref is not null;
"#,
};
