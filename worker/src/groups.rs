//! Groups and memberships in the product. A group row exists while the SCIM group lives; a
//! membership row exists while both the group and the user are in the product and the pair's
//! latest applied version says "member". The `*_versions` ledgers remember what was applied,
//! including deletions and removals, so late or repeated messages never resurrect anything.
//!
//! A membership can arrive before its group or its user: the ledger keeps it, and applying the
//! group or the user materialises it. The same key locks as for manager links (the group's and
//! the user's ids) serialise a membership with its group and user, so concurrent applies on
//! different workers cannot both miss each other.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::db::stmt;
use shared::messages::{ChangeMessage, GroupSnapshot};

use crate::key_locks;
use crate::outcome::Outcome;

pub async fn apply_group(
    txn: &DatabaseTransaction,
    msg: &ChangeMessage,
    g: &GroupSnapshot,
) -> Result<Outcome, DbErr> {
    let (tenant, id) = (msg.tenant_id, msg.resource_id);
    key_locks::lock(txn, vec![(tenant, id.to_string())]).await?;
    let ledger = txn
        .execute_raw(stmt(
            "insert into product.group_versions as v (id, tenant_id, version, deleted) values ($1, $2, $3, $4)
             on conflict (id) do update set version = excluded.version, deleted = excluded.deleted
             where v.version < excluded.version and v.tenant_id = excluded.tenant_id",
            [id.into(), tenant.into(), msg.version.into(), g.deleted.into()],
        ))
        .await?;
    if ledger.rows_affected() == 0 {
        return Ok(Outcome::Stale);
    }
    if g.deleted {
        // Memberships go with the group (on delete cascade).
        txn.execute_raw(stmt(
            "delete from product.groups where id = $1 and tenant_id = $2",
            [id.into(), tenant.into()],
        ))
        .await?;
        return Ok(Outcome::Applied);
    }
    txn.execute_raw(stmt(
        "insert into product.groups as g (id, tenant_id, name, version, updated_at) values ($1, $2, $3, $4, now())
         on conflict (id) do update set name = excluded.name, version = excluded.version, updated_at = now()
         where g.tenant_id = excluded.tenant_id",
        [id.into(), tenant.into(), g.display_name.clone().into(), msg.version.into()],
    ))
    .await?;
    // Memberships that arrived before the group.
    txn.execute_raw(stmt(
        "insert into product.group_members (group_id, user_id)
         select m.group_id, m.user_id from product.membership_versions m
         join product.users u on u.id = m.user_id and u.tenant_id = m.tenant_id
         where m.group_id = $1 and m.tenant_id = $2 and m.member
         on conflict do nothing",
        [id.into(), tenant.into()],
    ))
    .await?;
    Ok(Outcome::Applied)
}
