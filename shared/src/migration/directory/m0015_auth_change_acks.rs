//! `scim` migration 15: who has heard a token change. Every api listening on `scim_auth` has a
//! row here while it keeps tokens in memory (`alive_at` moves each time it hears its own ping),
//! and acknowledges the markers that a change's author sends after committing it. Postgres
//! delivers notifications in commit order, so an api that heard a marker has emptied its cache
//! for every change committed before it: the author (token rotation or revocation, a schema or
//! mapping change; api/src/auth_cache.rs) waits for every live api's acknowledgement, and only
//! then answers. A change made by hand in psql is not waited for; it is still announced.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0015_auth_change_acks",
    sql: r#"
create table scim.auth_listeners (
    id uuid primary key,
    registered_at timestamptz not null default now(),
    alive_at timestamptz not null default now()
);

create table scim.auth_acks (
    marker uuid not null,
    listener uuid not null,
    primary key (marker, listener)
);
"#,
};
