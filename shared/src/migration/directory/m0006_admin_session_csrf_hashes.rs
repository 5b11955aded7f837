//! `scim` migration 6: admin session CSRF tokens by hash.
//!
//! Recorded by the hand-written runner as version 6 on development builds before
//! sea-orm-migration took over (hence its `LEGACY` entry): never edit.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0006_admin_session_csrf_hashes",
    sql: r#"
-- CSRF tokens were kept as text, so whoever could read this table had a working token for every
-- open session. Only the token's SHA-256 is kept now; the token itself is derived from the
-- session id, which only the browser holds (see the api's admin::session). The open sessions
-- end, since their tokens cannot be derived: operators sign in again.
delete from scim.admin_sessions;
alter table scim.admin_sessions drop column csrf_token;
alter table scim.admin_sessions add column csrf_hash bytea not null;
"#,
};
