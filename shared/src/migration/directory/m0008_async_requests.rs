//! `scim` migration 8: asynchronous requests (RFC 9967 §3), whose completion is fetched at the
//! `Location` their `202 Accepted` named.
//!
//! New tables only, so one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0008_async_requests",
    sql: r#"
-- A write a client asked to be answered asynchronously (`Prefer: respond-async`), written in the
-- write's own transaction. `txn` is its `Set-Txn` and the `txn` of its SETs. It is complete when
-- the product has applied (or dead-lettered) every change message the write produced; `failure`
-- holds why the product could not apply one.
create table scim.async_requests (
    txn uuid primary key,
    tenant_id uuid not null references scim.tenants(id) on delete cascade,
    method text not null check (method in ('POST', 'PUT', 'PATCH', 'DELETE')),
    resource_type text not null check (resource_type in ('User', 'Group')),
    resource_id uuid not null,
    version text,
    created_at timestamptz not null default now(),
    completed_at timestamptz,
    failure text
);
create index async_requests_created on scim.async_requests (created_at);

-- The change messages of an asynchronous request the product has not settled yet; a worker
-- deletes a message's row once it applied or dead-lettered it (a repeat finds nothing to delete).
create table scim.async_request_parts (
    txn uuid not null references scim.async_requests(txn) on delete cascade,
    message_id uuid not null,
    primary key (txn, message_id)
);
"#,
};
