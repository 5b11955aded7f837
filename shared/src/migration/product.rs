//! What the rest of the product reads (`product` schema), owned by the worker. A new migration is
//! the next file in `product/`, appended to [`Migrator::migrations`].

use sea_orm_migration::{MigrationTrait, MigratorTrait};

use super::{Legacy, SchemaMigrator};

mod m0001_users;
mod m0002_manager_links;
mod m0003_groups_and_memberships;
mod m0004_emails_index_without_pending_list;
mod m0005_key_indexes_apart_from_tenant;
mod m0006_enterprise_columns_and_attributes;
mod m0007_nested_groups_effective_members;
mod m0008_user_roles_and_entitlements;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_users::MIGRATION),
            Box::new(m0002_manager_links::MIGRATION),
            Box::new(m0003_groups_and_memberships::MIGRATION),
            Box::new(m0004_emails_index_without_pending_list::MIGRATION),
            Box::new(m0005_key_indexes_apart_from_tenant::MIGRATION),
            Box::new(m0006_enterprise_columns_and_attributes::MIGRATION),
            Box::new(m0007_nested_groups_effective_members::MIGRATION),
            Box::new(m0008_user_roles_and_entitlements::MIGRATION),
        ]
    }
}

impl SchemaMigrator for Migrator {
    const SCHEMA: &'static str = "product";
    const LEGACY: &'static [Legacy] = &[
        Legacy {
            version: 1,
            name: "users",
            migration: &m0001_users::MIGRATION,
        },
        Legacy {
            version: 2,
            name: "manager links: lookup keys and pending references",
            migration: &m0002_manager_links::MIGRATION,
        },
        Legacy {
            version: 3,
            name: "groups and memberships",
            migration: &m0003_groups_and_memberships::MIGRATION,
        },
        Legacy {
            version: 4,
            name: "emails index without a pending list",
            migration: &m0004_emails_index_without_pending_list::MIGRATION,
        },
        Legacy {
            version: 5,
            name: "key indexes the tenant index cannot stand in for",
            migration: &m0005_key_indexes_apart_from_tenant::MIGRATION,
        },
    ];
}
