//! `scim` migration 11: the deprovisioning guard. A tenant's policy, and every deprovisioning
//! the guard saw: the ones it let through (counted against the window), the ones waiting out the
//! grace period or held for a person's decision (with the change messages to send then), and
//! what became of them.
//!
//! New tables, and three more methods an event row may carry (the guard's own events, see
//! `shared::events::set`); the widened check is `not valid` so that adding it does not scan the
//! event log (every existing row satisfies the narrower one). One transaction.

use crate::migration::SqlMigration;

pub const MIGRATION: SqlMigration = SqlMigration {
    name: "m0011_deprovisioning_guard",
    sql: r#"
-- No row: the defaults below. `protected` holds userNames as the admin wrote them (compared
-- case-insensitively). `base_active` is the tenant's active users before the window's
-- deprovisionings, as counted at `base_counted_at`: recounting 20,000 rows on every
-- deactivation of a wave would cost more than the guard is worth, and the row is locked while
-- it is used, so concurrent deactivations are counted one after the other.
create table scim.deprovisioning_guards (
    tenant_id uuid primary key references scim.tenants(id) on delete cascade,
    enabled boolean not null default true,
    max_fraction double precision not null default 0.1,
    min_count integer not null default 25,
    window_minutes integer not null default 60,
    grace_minutes integer not null default 0,
    protected text[] not null default '{}',
    base_active bigint,
    base_counted_at timestamptz,
    updated_at timestamptz not null default now()
);

-- One row per deprovisioning (a user's deactivation or delete) the guard decided:
--   passed     sent to the product at once (counted in the window)
--   grace      waiting until `release_at`; `messages` are sent then
--   released   sent after its grace period (counted in the window)
--   held       over the threshold; `messages` wait for approve or reject
--   approved   sent by an approval
--   rejected   discarded by a rejection: the product keeps the user until its next change
--   cancelled  the user was reactivated before its change reached the product
--   protected  an attempt on a protected account: never sent
-- `version` is the user's directory version the row is about (the latest, for a hold whose
-- user changed again while inactive).
create table scim.deprovisions (
    id bigint generated always as identity primary key,
    tenant_id uuid not null references scim.tenants(id) on delete cascade,
    user_id uuid not null,
    user_name text not null,
    kind text not null check (kind in ('deactivate', 'delete')),
    state text not null check (state in
        ('passed', 'grace', 'released', 'held', 'approved', 'rejected', 'cancelled', 'protected')),
    version bigint not null,
    messages jsonb,
    created_at timestamptz not null default now(),
    release_at timestamptz,
    decided_at timestamptz
);
-- What counts against the window.
create index deprovisions_window on scim.deprovisions (tenant_id, created_at)
    where state in ('passed', 'grace', 'released');
-- A user has at most one change waiting or rejected.
create unique index deprovisions_open on scim.deprovisions (tenant_id, user_id)
    where state in ('grace', 'held', 'rejected');
create index deprovisions_held on scim.deprovisions (tenant_id, id) where state = 'held';
create index deprovisions_due on scim.deprovisions (release_at) where state = 'grace';
create index deprovisions_history on scim.deprovisions (tenant_id, state, decided_at);

alter table scim.events drop constraint events_method_check,
    add constraint events_method_check
        check (method in ('POST', 'PUT', 'PATCH', 'DELETE', 'HOLD', 'APPROVE', 'REJECT')) not valid;
"#,
};
