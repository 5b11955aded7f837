//! `scim` migration 14: a notification on channel `scim_auth` whenever what a token lets in may
//! have changed (a token revoked or deleted, a tenant's schema extensions changed). The api
//! keeps live tokens in memory and empties that cache when it hears one, so a revocation takes
//! effect at once without a database round trip per request (api/src/auth_cache.rs).
//!
//! Triggers rather than calls in the api's code: a token revoked by hand in psql, or deleted
//! with its tenant, is announced too. Statement-level, so a statement notifies once however many
//! rows it touches (and Postgres folds identical notifications of one transaction into one).

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0014_auth_change_notifications",
    sql: r#"
create function scim.announce_auth_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('scim_auth', tg_table_name);
    return null;
end
$$;

create trigger api_tokens_announce after update or delete or truncate on scim.api_tokens
    for each statement execute function scim.announce_auth_change();

create trigger tenants_announce after update of schemas_version or delete or truncate on scim.tenants
    for each statement execute function scim.announce_auth_change();
"#,
};
