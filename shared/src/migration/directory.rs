//! The SCIM directory's migrations (`scim` schema), owned by the api. A new migration is the next
//! file in `directory/`, appended to [`Migrator::migrations`].

use sea_orm_migration::{MigrationTrait, MigratorTrait};

use super::{Legacy, SchemaMigrator};

mod m0001_tenants_tokens_users_outbox;
mod m0002_groups_and_memberships;
mod m0003_group_revisions;
mod m0004_audit_log_and_admin_sessions;
mod m0005_key_first_name_indexes;
mod m0006_admin_session_csrf_hashes;
mod m0007_event_streams;
mod m0008_async_requests;
mod m0009_tenant_schemas;
mod m0010_tenant_mappings;
mod m0011_deprovisioning_guard;
mod m0012_nested_groups_and_member_refs;
mod m0013_roles_and_entitlements;
mod m0014_auth_change_notifications;
mod m0015_auth_change_acks;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_tenants_tokens_users_outbox::MIGRATION),
            Box::new(m0002_groups_and_memberships::MIGRATION),
            Box::new(m0003_group_revisions::MIGRATION),
            Box::new(m0004_audit_log_and_admin_sessions::MIGRATION),
            Box::new(m0005_key_first_name_indexes::MIGRATION),
            Box::new(m0006_admin_session_csrf_hashes::MIGRATION),
            Box::new(m0007_event_streams::MIGRATION),
            Box::new(m0008_async_requests::MIGRATION),
            Box::new(m0009_tenant_schemas::MIGRATION),
            Box::new(m0010_tenant_mappings::MIGRATION),
            Box::new(m0011_deprovisioning_guard::MIGRATION),
            Box::new(m0012_nested_groups_and_member_refs::MIGRATION),
            Box::new(m0013_roles_and_entitlements::MIGRATION),
            Box::new(m0014_auth_change_notifications::MIGRATION),
            Box::new(m0015_auth_change_acks::MIGRATION),
        ]
    }
}

impl SchemaMigrator for Migrator {
    const SCHEMA: &'static str = "scim";
    const LEGACY: &'static [Legacy] = &[
        Legacy {
            version: 1,
            name: "tenants, tokens, users, outbox",
            migration: &m0001_tenants_tokens_users_outbox::MIGRATION,
        },
        Legacy {
            version: 2,
            name: "groups and memberships",
            migration: &m0002_groups_and_memberships::MIGRATION,
        },
        Legacy {
            version: 3,
            name: "group revisions",
            migration: &m0003_group_revisions::MIGRATION,
        },
        Legacy {
            version: 4,
            name: "audit log and admin sessions",
            migration: &m0004_audit_log_and_admin_sessions::MIGRATION,
        },
        Legacy {
            version: 5,
            name: "key-first name indexes",
            migration: &m0005_key_first_name_indexes::MIGRATION,
        },
        Legacy {
            version: 6,
            name: "admin session CSRF tokens by hash",
            migration: &m0006_admin_session_csrf_hashes::MIGRATION,
        },
    ];
}
