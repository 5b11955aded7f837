//! Groups in the product (`product.groups` and its ledger `product.group_versions`). A group
//! row exists while the SCIM group lives; a membership row exists while both the group and the
//! user are in the product and the pair's latest applied version says "member". The
//! `*_versions` ledgers remember what was applied, including deletions and removals, so late or
//! repeated messages never resurrect anything.
//!
//! A membership can arrive before its group or its user: the ledger keeps it, and applying the
//! group or the user materialises it. The same key locks as for manager links (the group's and
//! the user's ids) serialise a membership with its group and user, so concurrent applies on
//! different workers cannot both miss each other.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use shared::entity::{product_group as group, product_group_version as ledger};
use shared::messages::{ChangeMessage, GroupSnapshot};
use uuid::Uuid;

use crate::key_locks;
use crate::memberships;
use crate::nesting;
use crate::outcome::Outcome;
use crate::roles::{self, Target};
use crate::rows::{self, Overwrite};

pub async fn apply_group(
    txn: &DatabaseTransaction,
    msg: &ChangeMessage,
    g: &GroupSnapshot,
) -> Result<Outcome, DbErr> {
    let (tenant, id) = (msg.tenant_id, msg.resource_id);
    key_locks::lock(txn, vec![(tenant, id.to_string())]).await?;
    nesting::lock_nested(txn, &[tenant]).await?;
    if write_ledger(txn, tenant, id, msg.version, g.deleted, Overwrite::Older).await? == 0 {
        return Ok(Outcome::Stale);
    }
    // Roles follow the group's name and members, in tenants that have rules.
    let mapped = !roles::lock_mapped(txn, &[tenant]).await?.is_empty();
    if g.deleted {
        // Its effective members lose it and every ancestor they held only through it.
        let members = if mapped {
            effective_members(txn, id).await?
        } else {
            Vec::new()
        };
        nesting::detach_group(txn, id).await?;
        // Memberships, closure and child edges go with the group (on delete cascade).
        group::Entity::delete_many()
            .filter(group::Column::Id.eq(id))
            .filter(group::Column::TenantId.eq(tenant))
            .exec(txn)
            .await?;
        if !members.is_empty() {
            roles::derive(txn, Target::Users(members)).await?;
        }
        return Ok(Outcome::Applied);
    }
    let before = name_of(txn, tenant, id).await?;
    write_group(txn, tenant, id, msg.version, &g.display_name, Overwrite::Always).await?;
    if before.is_none() {
        // Arrived: what waited in the ledgers for it. A rename has nothing waiting (a group in
        // the product takes its memberships and edges as they come), and a large group's rename
        // must not re-read its members.
        memberships::materialise_for_group(txn, tenant, id).await?;
        nesting::materialise_for_group(txn, tenant, id).await?;
    }
    // A new group's members, or a renamed group's (names are compared case-insensitively).
    let renamed = before.is_none_or(|b| b.to_lowercase() != g.display_name.to_lowercase());
    if mapped && renamed {
        roles::derive(txn, Target::GroupMembers(vec![id])).await?;
    }
    Ok(Outcome::Applied)
}

/// The group's name in the product, if it is there.
async fn name_of(txn: &DatabaseTransaction, tenant: Uuid, id: Uuid) -> Result<Option<String>, DbErr> {
    group::Entity::find_by_id(id)
        .select_only()
        .column(group::Column::Name)
        .filter(group::Column::TenantId.eq(tenant))
        .into_tuple()
        .one(txn)
        .await
}

/// The group's effective members in the product.
async fn effective_members(txn: &DatabaseTransaction, id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    use shared::entity::product_group_effective_member as effective;
    effective::Entity::find()
        .select_only()
        .column(effective::Column::UserId)
        .filter(effective::Column::GroupId.eq(id))
        .into_tuple()
        .all(txn)
        .await
}

/// Records the version applied to a group (and whether it was a deletion); returns how many
/// rows changed (0 or 1).
pub async fn write_ledger(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
    version: i64,
    deleted: bool,
    how: Overwrite,
) -> Result<u64, DbErr> {
    use ledger::Column as C;
    let row = ledger::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        version: Set(version),
        deleted: Set(deleted),
    };
    rows::upsert(db, row, &[C::Version, C::Deleted], how).await
}

/// Writes a live group's row; returns how many rows changed (0 or 1).
pub async fn write_group(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    id: Uuid,
    version: i64,
    name: &str,
    how: Overwrite,
) -> Result<u64, DbErr> {
    use group::Column as C;
    let row = group::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        name: Set(name.to_owned()),
        version: Set(version),
        ..Default::default()
    };
    rows::upsert(db, row, &[C::Name, C::Version], how).await
}

/// Deletes the tenant's groups other than `live` (memberships go with them); returns how many.
pub async fn delete_all_but(db: &impl ConnectionTrait, tenant: Uuid, live: Vec<Uuid>) -> Result<u64, DbErr> {
    let res = group::Entity::delete_many()
        .filter(group::Column::TenantId.eq(tenant))
        .filter(rows::other_than(group::Column::Id, live))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The tenant's groups in the product: id, name and version.
pub async fn of_tenant(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<(Uuid, String, i64)>, DbErr> {
    use group::Column as C;
    group::Entity::find()
        .select_only()
        .columns([C::Id, C::Name, C::Version])
        .filter(C::TenantId.eq(tenant))
        .into_tuple()
        .all(db)
        .await
}
