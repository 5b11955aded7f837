//! `product` migration 2: manager links: lookup keys and pending references.
//!
//! Released, and recorded by the hand-written runner as version 2 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0002_manager_links",
    sql: r#"
-- What a manager reference may name (RFC 7643 enterprise manager.value is our id, but IdPs
-- send the manager's externalId, login, email or employee number), and the reference itself,
-- kept while it cannot be resolved yet and re-resolved whenever a matching user is applied.
alter table product.users
    add column external_id text,
    add column employee_number text,
    add column emails text[] not null default '{}',
    add column manager_ref text;
create index users_key_user_name on product.users (tenant_id, lower(user_name));
create index users_key_external_id on product.users (tenant_id, external_id);
create index users_key_employee_number on product.users (tenant_id, employee_number);
create index users_key_emails on product.users using gin (emails);
create index users_manager_ref on product.users (tenant_id, lower(manager_ref)) where manager_ref is not null;
create index users_manager_id on product.users (manager_id) where manager_id is not null;
"#,
};
