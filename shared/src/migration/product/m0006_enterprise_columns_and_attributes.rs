//! `product` migration 6: the rest of the enterprise extension (RFC 7643 §4.3) as columns, and
//! `attributes` for the values a tenant maps from its own extensions.
//!
//! Columns with constant defaults only: no table rewrite, so one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0006_enterprise_columns_and_attributes",
    sql: r#"
alter table product.users
    add column cost_center text,
    add column organization text,
    add column division text,
    add column attributes jsonb not null default '{}';
"#,
};
