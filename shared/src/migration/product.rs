use super::Migration;

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users",
        sql: r#"
-- What the rest of the product reads. `id` is the SCIM id; `version` is the directory version
-- last applied, so older or repeated change messages are ignored.
create table product.users (
    id uuid primary key,
    tenant_id uuid not null,
    user_name text not null,
    email text,
    first_name text,
    last_name text,
    department text,
    job_title text,
    manager_id uuid references product.users (id) on delete set null,
    active boolean not null,
    version bigint not null,
    updated_at timestamptz not null default now()
);
create index users_tenant on product.users (tenant_id);
"#,
    },
    Migration {
        version: 2,
        name: "manager links: lookup keys and pending references",
        sql: r#"
-- What a manager reference may name (RFC 7643 enterprise manager.value is our id, but IdPs
-- send the manager's externalId, login, email or employee number), and the reference itself,
-- kept while it cannot be resolved yet and re-resolved whenever a matching user is applied.
alter table product.users
    add column external_id text,
    add column employee_number text,
    add column emails text[] not null default '{}',
    add column manager_ref text;
create index users_key_user_name on product.users (tenant_id, lower(user_name));
create index users_key_external_id on product.users (tenant_id, external_id);
create index users_key_employee_number on product.users (tenant_id, employee_number);
create index users_key_emails on product.users using gin (emails);
create index users_manager_ref on product.users (tenant_id, lower(manager_ref)) where manager_ref is not null;
create index users_manager_id on product.users (manager_id) where manager_id is not null;
"#,
    },
];
