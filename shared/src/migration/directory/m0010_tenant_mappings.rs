//! `scim` migration 10: a tenant's mapping of SCIM attributes into `product.users`, and the
//! progress of the backfill that follows a change of it.
//!
//! A new table only: one transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0010_tenant_mappings",
    sql: r#"
-- `rules`: [{"from": SCIM attribute path, "to": product column or "attributes.<key>"}], checked by
-- the api against the tenant's schemas. A change starts a backfill: every user is sent to the
-- workers again, in id order; `backfill_after` is the last user sent, so a restarted api
-- carries on where it stopped. `lease_until` keeps two api processes off the same backfill.
create table scim.tenant_mappings (
    tenant_id uuid primary key references scim.tenants(id) on delete cascade,
    rules jsonb not null default '[]',
    updated_at timestamptz not null default now(),
    backfill_total bigint not null default 0,
    backfill_done bigint not null default 0,
    backfill_after uuid,
    backfill_started_at timestamptz,
    backfill_finished_at timestamptz,
    lease_until timestamptz
);
create index tenant_mappings_backfilling on scim.tenant_mappings (tenant_id)
    where backfill_started_at is not null and backfill_finished_at is null;
"#,
};
