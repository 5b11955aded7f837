//! `scim` migration 3: group revisions.
//!
//! Released, and recorded by the hand-written runner as version 3 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0003_group_revisions",
    sql: r#"
-- What a group's ETag counts: every change a GET of the group shows, membership changes
-- included. `version` cannot serve: it orders the group's own change messages, which a
-- membership change does not send.
alter table scim.groups add column revision bigint not null default 1;
-- Until now the ETag was W/"<version>", which missed membership changes; start past every tag
-- issued so far, so that none of them can match a later state by accident.
update scim.groups set revision = version + 1;
"#,
};
