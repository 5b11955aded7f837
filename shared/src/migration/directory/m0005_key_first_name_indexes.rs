//! `scim` migration 5: key-first name indexes.
//!
//! Released, and recorded by the hand-written runner as version 5 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0005_key_first_name_indexes",
    sql: r#"
-- The lookup an IdP makes before every create (`userName eq`, `displayName eq`) finds rows by
-- the key alone and checks the tenant on them (api `directory::by_key`). With the tenant first,
-- the planner could answer it from any tenant-prefixed index while its statistics still showed a
-- growing tenant as small, and read the whole tenant per lookup. Same uniqueness, key first.
create unique index users_user_name_tenant on scim.users (user_name_key, tenant_id) where deleted_at is null;
drop index scim.users_tenant_user_name;
create unique index groups_display_name_tenant on scim.groups (display_name_key, tenant_id) where deleted_at is null;
drop index scim.groups_tenant_display_name;
"#,
};
