//! Roles and entitlements in the product: `product.user_roles` derived from the IdP's roles on
//! the user (`product.users.idp_roles`, `idp_primary_role`) and the tenant's group→role rules
//! (`product.role_mappings`) over effective membership; `product.user_entitlements` as the IdP
//! set them. The rule itself is `shared::domain::roles`'s; [`derive`] says it in one statement.
//!
//! # When roles are re-derived
//! - a user change: that user (its IdP roles may have changed);
//! - a membership, an edge, a group's rename or delete: the users whose effective groups
//!   changed, and only in a tenant that has rules;
//! - a new mapping ([`apply_mapping`]): every user of the tenant, in pages of [`PAGE`], with
//!   the progress reported to the directory for the admin page.
//!
//! # Serialisation
//! A user's roles depend on groups and memberships far from its own key lock. Every derivation
//! takes the tenant's roles lock after all its other locks:
//! - exclusively where groups change ([`lock_mapped`], in a tenant with rules) and for each page
//!   of a mapping's re-derivation, so these apply one at a time and each sees the others'
//!   commits;
//! - shared by user changes ([`lock_shared`], in every tenant), which touch only their own users'
//!   roles and so run side by side, but never beside a group change or a mapping page. This
//!   also covers a tenant's first rules: a user change that derived without them commits before
//!   the mapping's page reads that user, or waits for the page and derives with them.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use shared::db::stmt;
use shared::entity::scim_tenant_role_mapping as directory_mapping;
use shared::messages::{ChangeMessage, RoleMappingSnapshot};
use uuid::Uuid;

use crate::outcome::Outcome;

/// Users re-derived per transaction after a mapping change.
pub const PAGE: u64 = 1000;

/// The users a derivation is about.
pub enum Target {
    Users(Vec<Uuid>),
    /// Every effective member of these groups.
    GroupMembers(Vec<Uuid>),
}

impl Target {
    fn sql(&self) -> &'static str {
        match self {
            Target::Users(_) => {
                "select id, tenant_id, idp_roles, idp_primary_role from product.users where id = any($1::uuid[])"
            }
            Target::GroupMembers(_) => {
                "select id, tenant_id, idp_roles, idp_primary_role from product.users
                 where id in (select user_id from product.group_effective_members where group_id = any($1::uuid[]))"
            }
        }
    }

    fn ids(self) -> Vec<Uuid> {
        match self {
            Target::Users(ids) | Target::GroupMembers(ids) => ids,
        }
    }
}

/// Takes the roles lock of each of `tenants` that has rules, in one global order; returns
/// those tenants (none: nothing about groups can change a role there).
pub async fn lock_mapped(txn: &DatabaseTransaction, tenants: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    txn.query_all_raw(stmt(
        "select tenant_id, pg_advisory_xact_lock(k)::text from (
             select tenant_id, hashtextextended('product roles ' || tenant_id::text, 0) as k
             from product.role_mappings
             where tenant_id = any($1::uuid[]) and jsonb_array_length(rules) > 0 order by k
         ) as mapped",
        [tenants.to_vec().into()],
    ))
    .await?
    .iter()
    .map(|r| r.try_get_by_index(0))
    .collect()
}

/// Takes the roles lock of each of `tenants` in shared mode, in one global order, whatever their
/// rules: what a user change holds while it derives its own users' roles (see the module doc).
pub async fn lock_shared(txn: &DatabaseTransaction, tenants: &[Uuid]) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "select count(pg_advisory_xact_lock_shared(k)) from (
             select distinct hashtextextended('product roles ' || t::text, 0) as k
             from unnest($1::uuid[]) as t order by k
         ) as keys",
        [tenants.to_vec().into()],
    ))
    .await
    .map(|_| ())
}

/// Whether any of `users` has a role or an entitlement in the product, or any of `tenants` has
/// rules: whether a user change without roles or entitlements has anything to re-derive.
pub async fn any_access(txn: &DatabaseTransaction, users: &[Uuid], tenants: &[Uuid]) -> Result<bool, DbErr> {
    txn.query_one_raw(stmt(
        "select exists (select 1 from product.user_roles where user_id = any($1::uuid[]))
             or exists (select 1 from product.user_entitlements where user_id = any($1::uuid[]))
             or exists (select 1 from product.role_mappings
                        where tenant_id = any($2::uuid[]) and jsonb_array_length(rules) > 0)",
        [users.to_vec().into(), tenants.to_vec().into()],
    ))
    .await?
    .map(|r| r.try_get_by_index::<bool>(0))
    .transpose()
    .map(|b| b.unwrap_or(true))
}

/// Re-derives the roles of `target`'s users when `tenant` has rules (after taking its roles
/// lock); returns how many rows were written.
pub async fn rederive_if_mapped(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    target: Target,
) -> Result<u64, DbErr> {
    if lock_mapped(txn, &[tenant]).await?.is_empty() {
        return Ok(0);
    }
    derive(txn, target).await
}

/// Makes `product.user_roles` of `target`'s users what the rule gives, in one statement that
/// writes only the rows that change (a role gained or lost, a primary moved); returns how many.
/// The caller holds the roles lock of the users' tenants if they have rules.
pub async fn derive(txn: &impl ConnectionTrait, target: Target) -> Result<u64, DbErr> {
    let sql = format!(
        "with target as ({target}),
         rules as (
             select m.tenant_id, lower(r.\"group\") as grp, r.role, coalesce(r.priority, 0) as priority
             from product.role_mappings m,
                  jsonb_to_recordset(m.rules) as r(\"group\" text, role text, priority int)
             where m.tenant_id in (select tenant_id from target)
         ),
         mapped as (
             select t.id as u, r.role, max(r.priority) as priority
             from target t
             join product.group_effective_members x on x.user_id = t.id
             join product.groups g on g.id = x.group_id
             join rules r on r.tenant_id = t.tenant_id and r.grp = lower(g.name)
             group by t.id, r.role
         ),
         wanted as (
             select a.u, a.role, coalesce(a.role = coalesce(t.idp_primary_role, (
                 select m.role from mapped m where m.u = a.u
                 order by m.priority desc, m.role collate \"C\" limit 1)), false) as is_primary
             from (select u, role from mapped union select id, unnest(idp_roles) from target) as a
             join target t on t.id = a.u
         ),
         gone as (
             delete from product.user_roles ur using target t
             where ur.user_id = t.id
               and not exists (select 1 from wanted w where w.u = ur.user_id and w.role = ur.role)
             returning 1
         ),
         written as (
             insert into product.user_roles as ur (user_id, role, is_primary)
             select u, role, is_primary from wanted
             on conflict (user_id, role) do update set is_primary = excluded.is_primary
             where ur.is_primary is distinct from excluded.is_primary
             returning 1
         )
         select (select count(*) from gone) + (select count(*) from written)",
        target = target.sql()
    );
    let row = txn.query_one_raw(stmt(&sql, [target.ids().into()])).await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0) as u64)
}

/// Makes `product.user_entitlements` of `users` exactly `pairs` ((user, entitlement), only for
/// those users), writing only what changes; returns how many rows.
pub async fn write_entitlements(
    txn: &impl ConnectionTrait,
    users: Vec<Uuid>,
    pairs: (Vec<Uuid>, Vec<String>),
) -> Result<u64, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "with wanted(u, e) as (select * from unnest($2::uuid[], $3::text[])),
             gone as (
                 delete from product.user_entitlements x using unnest($1::uuid[]) as t(u)
                 where x.user_id = t.u
                   and not exists (select 1 from wanted w where w.u = x.user_id and w.e = x.entitlement)
                 returning 1
             ),
             written as (
                 insert into product.user_entitlements (user_id, entitlement)
                 select u, e from wanted on conflict do nothing returning 1
             )
             select (select count(*) from gone) + (select count(*) from written)",
            [users.into(), pairs.0.into(), pairs.1.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0) as u64)
}

/// Applies a tenant's new rules: stored iff newer (an older or repeated message is stale,
/// unless it is the version whose re-derivation a crash interrupted: that one resumes), then
/// every user of the tenant re-derived, [`PAGE`] users a transaction, with the progress written
/// to the directory after each. A newer mapping arriving meanwhile takes over.
pub async fn apply_mapping(
    db: &DatabaseConnection,
    directory: &DatabaseConnection,
    msg: &ChangeMessage,
    mapping: &RoleMappingSnapshot,
) -> Result<Outcome, DbErr> {
    let tenant = msg.tenant_id;
    let rules = serde_json::to_value(&mapping.rules).unwrap_or_default();
    let txn = db.begin().await?;
    lock(&txn, tenant).await?;
    let state = txn
        .query_one_raw(stmt(
            "insert into product.role_mappings as m (tenant_id, version, rules)
             values ($1, $2, $3::text::jsonb)
             on conflict (tenant_id) do update
                 set version = excluded.version, rules = excluded.rules, derived_after = null, finished_at = null
                 where m.version < excluded.version
             returning true",
            [tenant.into(), msg.version.into(), rules.to_string().into()],
        ))
        .await?;
    let mut after: Option<Uuid> = None;
    if state.is_none() {
        // Not newer: a repeat of the version being derived resumes it; anything else is stale.
        let row = txn
            .query_one_raw(stmt(
                "select derived_after from product.role_mappings
                 where tenant_id = $1 and version = $2 and finished_at is null",
                [tenant.into(), msg.version.into()],
            ))
            .await?;
        match row {
            None => return Ok(Outcome::Stale),
            Some(r) => after = r.try_get_by_index(0)?,
        }
    }
    let total = count_users(&txn, tenant, None).await?;
    let mut done = match after {
        Some(a) => count_users(&txn, tenant, Some(a)).await?,
        None => 0,
    };
    txn.commit().await?;
    report(directory, tenant, msg.version, total, done, false).await;
    loop {
        let txn = db.begin().await?;
        lock(&txn, tenant).await?;
        let current = txn
            .query_one_raw(stmt(
                "select version from product.role_mappings where tenant_id = $1",
                [tenant.into()],
            ))
            .await?
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?;
        if current != Some(msg.version) {
            tracing::info!(tenant_id = %tenant, version = msg.version, "a newer role mapping took over");
            return Ok(Outcome::Applied);
        }
        let ids: Vec<Uuid> = txn
            .query_all_raw(stmt(
                "select id from product.users where tenant_id = $1 and id > $2 order by id limit $3",
                [
                    tenant.into(),
                    after.unwrap_or_else(Uuid::nil).into(),
                    (PAGE as i64).into(),
                ],
            ))
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let finished = (ids.len() as u64) < PAGE;
        let n = ids.len() as i64;
        after = ids.last().copied().or(after);
        let written = derive(&txn, Target::Users(ids)).await?;
        txn.execute_raw(stmt(
            "update product.role_mappings set derived_after = $2,
                 finished_at = case when $3 then now() end
             where tenant_id = $1",
            [tenant.into(), after.into(), finished.into()],
        ))
        .await?;
        txn.commit().await?;
        done += n;
        tracing::debug!(tenant_id = %tenant, version = msg.version, done, written, "roles re-derived");
        report(directory, tenant, msg.version, total.max(done), done, finished).await;
        if finished {
            tracing::info!(tenant_id = %tenant, version = msg.version, users = done, "role mapping applied");
            return Ok(Outcome::Applied);
        }
    }
}

/// Reconcile: stores the directory's rules as applied and finished (the caller re-derives every
/// user in the same transaction); a RoleMapping message of that version still on its way is
/// then stale.
pub async fn store_applied(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    version: i64,
    rules: &serde_json::Value,
) -> Result<(), DbErr> {
    lock(txn, tenant).await?;
    txn.execute_raw(stmt(
        "insert into product.role_mappings as m (tenant_id, version, rules, finished_at)
         values ($1, $2, $3::text::jsonb, now())
         on conflict (tenant_id) do update
             set version = excluded.version, rules = excluded.rules, derived_after = null, finished_at = now()
             where (m.version, m.rules, m.finished_at is null) is distinct from (excluded.version, excluded.rules, false)",
        [tenant.into(), version.into(), rules.to_string().into()],
    ))
    .await
    .map(|_| ())
}

/// The tenant's roles lock, taken whatever its rules.
async fn lock(txn: &DatabaseTransaction, tenant: Uuid) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "select pg_advisory_xact_lock(hashtextextended('product roles ' || $1::uuid::text, 0))",
        [tenant.into()],
    ))
    .await
    .map(|_| ())
}

/// The tenant's users in the product (up to `upto`, when given).
async fn count_users(txn: &DatabaseTransaction, tenant: Uuid, upto: Option<Uuid>) -> Result<i64, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "select count(*) from product.users where tenant_id = $1 and ($2::uuid is null or id <= $2)",
            [tenant.into(), upto.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Writes the re-derivation's progress where the admin page reads it; only for the version
/// the directory still holds. Best effort: a failure costs a stale progress figure, never the
/// derivation.
async fn report(
    directory: &DatabaseConnection,
    tenant: Uuid,
    version: i64,
    total: i64,
    done: i64,
    finished: bool,
) {
    use directory_mapping::Column as C;
    let mut update = directory_mapping::Entity::update_many()
        .col_expr(C::DerivedVersion, Expr::val(version))
        .col_expr(C::UsersTotal, Expr::val(total))
        .col_expr(C::DerivedDone, Expr::val(done))
        .filter(C::TenantId.eq(tenant))
        .filter(C::Version.eq(version));
    if finished {
        update = update.col_expr(C::DerivedAt, Expr::current_timestamp());
    }
    if let Err(e) = update.exec(directory).await {
        tracing::warn!(tenant_id = %tenant, error = %e, "could not record the role re-derivation's progress");
    }
}

/// The tenant's roles in the product: (user, role, primary).
pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<(Uuid, String, bool)>, DbErr> {
    rows_of_tenant(
        db,
        "select r.user_id, r.role, r.is_primary from product.user_roles r
         join product.users u on u.id = r.user_id where u.tenant_id = $1",
        tenant,
    )
    .await
}

/// The tenant's entitlements in the product: (user, entitlement).
pub async fn entitlements_of_tenant(
    db: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    rows_of_tenant(
        db,
        "select e.user_id, e.entitlement from product.user_entitlements e
         join product.users u on u.id = e.user_id where u.tenant_id = $1",
        tenant,
    )
    .await
}

async fn rows_of_tenant<T: sea_orm::TryGetableMany>(
    db: &impl ConnectionTrait,
    sql: &str,
    tenant: Uuid,
) -> Result<Vec<T>, DbErr> {
    db.query_all_raw(stmt(sql, [tenant.into()]))
        .await?
        .iter()
        .map(|r| r.try_get_many_by_index::<T>())
        .collect()
}
