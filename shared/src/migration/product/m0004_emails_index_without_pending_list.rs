//! `product` migration 4: emails index without a pending list.
//!
//! Released, and recorded by the hand-written runner as version 4 before sea-orm-migration took
//! over: never edit, databases have run this text.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0004_emails_index_without_pending_list",
    sql: r#"
-- Every apply resolves manager references by email through this index. With the default
-- fastupdate, new entries wait in an unsorted pending list that each search reads from start to
-- end, so during an import lookups slowed down with every user written (0.26 ms instead of
-- 0.004 ms per lookup after 2,000 users). Writes now go into the index itself.
alter index product.users_key_emails set (fastupdate = off);
select gin_clean_pending_list('product.users_key_emails'::regclass);
"#,
};
