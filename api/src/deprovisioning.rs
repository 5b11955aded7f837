//! The deprovisioning guard on the write path (the rules: `shared::domain::deprovisioning`).
//! A user's change reaches this after its directory row is written, in the same transaction,
//! with the change messages it would send; it answers which of them go to the outbox now. The
//! rest wait in `scim.deprovisions`, committed with the directory row, so a held change survives
//! any crash exactly as a directory write does, and the IdP gets its ordinary answer.
//!
//! Only deprovisionings and changes of users that were inactive already do any work here: the
//! common write (an active user stays active) returns at once, without a query.

pub mod decisions;
pub mod release;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult};
use shared::db::stmt;
use shared::domain::deprovisioning::{Kind, Policy, State};
use shared::entity::scim_deprovisioning_guard as guard;
use shared::events::log::Recorded;
use shared::messages::{ChangeMessage, Resource};
use uuid::Uuid;

/// How long a count of the tenant's active users serves as the base of the fraction. Recounting
/// a 20,000-user tenant on every deactivation of a wave would cost more than the guard is
/// worth; a base a few seconds old changes the threshold by a handful.
const BASE_TTL_SECS: i64 = 30;

/// A user's change on its way to the product.
pub struct UserChange {
    pub user: Uuid,
    /// As it was before the change (what protected accounts are listed by).
    pub user_name: String,
    pub external_id: Option<String>,
    pub was_active: bool,
    /// After the change; false for a delete.
    pub now_active: bool,
    pub deleted: bool,
    /// The user's directory version after the change.
    pub version: i64,
    /// The user's message first, then (for a delete) its memberships' removals.
    pub messages: Vec<ChangeMessage>,
}

impl UserChange {
    fn kind(&self) -> Kind {
        if self.deleted {
            Kind::Delete
        } else {
            Kind::Deactivate
        }
    }
}

/// The messages of `change` to write to the outbox now; whatever else it sends waits in
/// `scim.deprovisions` (held, or in its grace period) or is never sent (a protected account).
pub async fn pass(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    change: UserChange,
) -> Result<Vec<ChangeMessage>, DbErr> {
    let deprovisioning = change.was_active && (change.deleted || !change.now_active);
    if deprovisioning {
        deprovision(txn, tenant, change).await
    } else if change.was_active {
        Ok(change.messages)
    } else {
        after_inactive(txn, tenant, change).await
    }
}

/// A deactivation or delete of an active user: counted, and passed, delayed or held.
async fn deprovision(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    change: UserChange,
) -> Result<Vec<ChangeMessage>, DbErr> {
    // Read first without the lock: a tenant with the guard off, or a protected account, need
    // not wait for the tenant's other deprovisionings to commit.
    let policy = Policy::of_tenant(txn, tenant).await?;
    if !policy.enabled {
        return Ok(change.messages);
    }
    let kind = change.kind();
    if policy.protects(&change.user_name) {
        return protect(txn, tenant, change).await;
    }
    // Counted under the lock, by the policy as it stands then.
    let (policy, row) = lock_policy(txn, tenant).await?;
    if !policy.enabled {
        return Ok(change.messages);
    }
    // While anything is held, everything further is held: the threshold need not be worked out.
    let counts = Counts::of(txn, tenant, policy.window_minutes).await?;
    let held = counts.tripped
        || {
            let base = base(txn, tenant, &row, counts.recent).await?;
            let allowed = policy.allowed(base);
            let over = counts.recent + 1 > allowed;
            if over {
                tracing::warn!(
                    tenant_id = %tenant, scim_id = %change.user, recent = counts.recent, allowed, active_before = base,
                    window_minutes = policy.window_minutes,
                    "deprovisioning guard tripped: this and every further deactivation or delete is held from the product until the tenant's admin approves or rejects them"
                );
            }
            over
        };
    if held {
        record(txn, tenant, &change, State::Held, Some(&change.messages), None).await?;
        metrics::counter!("scim_deprovisioning_held_total", "kind" => kind.as_str()).increment(1);
        if counts.tripped {
            tracing::warn!(tenant_id = %tenant, scim_id = %change.user, kind = kind.as_str(), "deprovisioning held");
        }
        guard_event(txn, tenant, &change, "HOLD").await?;
        return Ok(Vec::new());
    }
    if policy.grace_minutes > 0 {
        let release_at = Utc::now() + chrono::Duration::minutes(i64::from(policy.grace_minutes));
        record(
            txn,
            tenant,
            &change,
            State::Grace,
            Some(&change.messages),
            Some(release_at),
        )
        .await?;
        metrics::counter!("scim_deprovisioning_grace_total", "kind" => kind.as_str()).increment(1);
        tracing::info!(tenant_id = %tenant, scim_id = %change.user, kind = kind.as_str(), release_at = %release_at, "deprovisioning waits out the grace period");
        return Ok(Vec::new());
    }
    record(txn, tenant, &change, State::Passed, None, None).await?;
    Ok(change.messages)
}

/// A change of a user that was inactive already: a reactivation cancels its waiting
/// deprovisioning, a further change while inactive replaces it (the product gets the latest
/// once it is released), and a rejected one is over (the product takes this change as it is).
async fn after_inactive(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    change: UserChange,
) -> Result<Vec<ChangeMessage>, DbErr> {
    let open = txn
        .query_one_raw(stmt(
            "select id, state from scim.deprovisions
             where tenant_id = $1 and user_id = $2 and state in ('grace', 'held', 'rejected')
             for update",
            [tenant.into(), change.user.into()],
        ))
        .await?;
    if let Some(row) = open {
        let id: i64 = row.try_get_by_index(0)?;
        let state: String = row.try_get_by_index(1)?;
        match State::parse(&state) {
            Some(State::Grace | State::Held) if change.now_active && !change.deleted => {
                decide(txn, &[id], State::Cancelled).await?;
                metrics::counter!("scim_deprovisioning_cancelled_total").increment(1);
                tracing::info!(tenant_id = %tenant, scim_id = %change.user, was = %state, "user reactivated: its deprovisioning never reaches the product");
                return Ok(change.messages);
            }
            Some(State::Grace | State::Held) => {
                // Still inactive (or now deleted): the waiting change becomes this one.
                txn.execute_raw(stmt(
                    "update scim.deprovisions set messages = $2::text::jsonb, version = $3, kind = $4 where id = $1",
                    [
                        id.into(),
                        messages_json(&change.messages).into(),
                        change.version.into(),
                        change.kind().as_str().into(),
                    ],
                ))
                .await?;
                return Ok(Vec::new());
            }
            _ => {
                txn.execute_raw(stmt("delete from scim.deprovisions where id = $1", [id.into()]))
                    .await?;
            }
        }
    }
    if change.now_active && !change.deleted {
        return Ok(change.messages);
    }
    // An inactive protected account stays active in the product through its later changes.
    let policy = Policy::of_tenant(txn, tenant).await?;
    if policy.enabled && policy.protects(&change.user_name) {
        if change.deleted {
            return protect(txn, tenant, change).await;
        }
        return Ok(kept_active(change.messages));
    }
    Ok(change.messages)
}

/// A deprovisioning of a protected account: recorded, logged, and never sent; a deactivated
/// protected user's profile changes still reach the product, as an active user.
async fn protect(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    change: UserChange,
) -> Result<Vec<ChangeMessage>, DbErr> {
    let kind = change.kind();
    record(txn, tenant, &change, State::Protected, None, None).await?;
    metrics::counter!("scim_deprovisioning_protected_total", "kind" => kind.as_str()).increment(1);
    tracing::warn!(tenant_id = %tenant, scim_id = %change.user, kind = kind.as_str(), "deprovisioning of a protected account refused: the product keeps it active");
    Ok(if change.deleted {
        Vec::new()
    } else {
        kept_active(change.messages)
    })
}

/// A mapping backfill's messages as the guard lets them reach the product: none for a user
/// whose deprovisioning waits or was rejected (the product keeps it as it was until that is
/// settled), and a protected user kept active.
pub async fn backfilled(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    msgs: Vec<ChangeMessage>,
) -> Result<Vec<ChangeMessage>, DbErr> {
    let ids: Vec<Uuid> = msgs.iter().map(|m| m.resource_id).collect();
    let open: std::collections::HashSet<Uuid> = db
        .query_all_raw(stmt(
            "select user_id from scim.deprovisions
             where tenant_id = $1 and state in ('grace', 'held', 'rejected') and user_id = any($2)",
            [tenant.into(), ids.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    let policy = Policy::of_tenant(db, tenant).await?;
    Ok(msgs
        .into_iter()
        .filter(|m| !open.contains(&m.resource_id))
        .map(|m| match &m.resource {
            Resource::User(u) if policy.enabled && !u.active && policy.protects(&u.user_name) => {
                kept_active(vec![m]).remove(0)
            }
            _ => m,
        })
        .collect())
}

/// The messages with the user kept active.
fn kept_active(mut messages: Vec<ChangeMessage>) -> Vec<ChangeMessage> {
    for m in &mut messages {
        if let Resource::User(u) = &mut m.resource {
            u.active = true;
        }
    }
    messages
}

/// Locks the tenant's policy row for the rest of the transaction (created with the defaults if
/// the tenant has none), so that concurrent deprovisionings are counted one after the other.
async fn lock_policy(txn: &DatabaseTransaction, tenant: Uuid) -> Result<(Policy, guard::Model), DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "insert into scim.deprovisioning_guards as g (tenant_id) values ($1)
             on conflict (tenant_id) do update set tenant_id = excluded.tenant_id
             returning g.*",
            [tenant.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    let row = guard::Model::from_query_result(&row, "")?;
    Ok((Policy::of_row(Some(row.clone())), row))
}

/// Deprovisionings the window counts, and whether any is held (the guard has tripped).
struct Counts {
    recent: i64,
    tripped: bool,
}

impl Counts {
    async fn of(txn: &DatabaseTransaction, tenant: Uuid, window_minutes: i32) -> Result<Self, DbErr> {
        let row = txn
            .query_one_raw(stmt(
                "select
                   (select count(*) from scim.deprovisions
                     where tenant_id = $1 and state in ('passed', 'grace', 'released')
                       and created_at > now() - make_interval(mins => $2)),
                   exists (select 1 from scim.deprovisions where tenant_id = $1 and state = 'held')",
                [tenant.into(), window_minutes.into()],
            ))
            .await?
            .ok_or(DbErr::RecordNotFound("counts".into()))?;
        Ok(Self {
            recent: row.try_get_by_index(0)?,
            tripped: row.try_get_by_index(1)?,
        })
    }
}

/// The tenant's active users before the window's deprovisionings: counted again when the last
/// count is older than [`BASE_TTL_SECS`] (the window's `recent` deprovisionings added back, this
/// one included). Only asked while nothing is held.
async fn base(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    row: &guard::Model,
    recent: i64,
) -> Result<i64, DbErr> {
    let fresh = row
        .base_counted_at
        .is_some_and(|at| (Utc::now() - at.to_utc()).num_seconds() < BASE_TTL_SECS);
    if let (true, Some(base)) = (fresh, row.base_active) {
        return Ok(base);
    }
    let active: i64 = txn
        .query_one_raw(stmt(
            "select count(*) from scim.users where tenant_id = $1 and active and deleted_at is null",
            [tenant.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotFound("count".into()))?
        .try_get_by_index(0)?;
    let base = active + recent + 1;
    txn.execute_raw(stmt(
        "update scim.deprovisioning_guards set base_active = $2, base_counted_at = now() where tenant_id = $1",
        [tenant.into(), base.into()],
    ))
    .await?;
    Ok(base)
}

/// Writes the guard's row about `change`.
async fn record(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    change: &UserChange,
    state: State,
    messages: Option<&[ChangeMessage]>,
    release_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "insert into scim.deprovisions (tenant_id, user_id, user_name, kind, state, version, messages, release_at, decided_at)
         values ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, case when $5 in ('passed', 'protected') then now() end)",
        [
            tenant.into(),
            change.user.into(),
            change.user_name.clone().into(),
            change.kind().as_str().into(),
            state.as_str().into(),
            change.version.into(),
            messages.map(messages_json).into(),
            release_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

fn messages_json(messages: &[ChangeMessage]) -> String {
    serde_json::to_string(messages).unwrap_or_else(|_| "[]".into())
}

/// Moves deprovisionings `ids` to `state` (a decision: no messages are kept).
async fn decide(db: &impl ConnectionTrait, ids: &[i64], state: State) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "update scim.deprovisions set state = $2, decided_at = now(), messages = null where id = any($1)",
        [ids.to_vec().into(), state.as_str().into()],
    ))
    .await?;
    Ok(())
}

/// The guard's event about one user on the tenant's streams (when it has any): `HOLD`,
/// `APPROVE` or `REJECT` (URIs in `shared::events::set`).
async fn guard_event(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    change: &UserChange,
    method: &'static str,
) -> Result<(), DbErr> {
    event(
        db,
        tenant,
        change.user,
        change.external_id.clone(),
        change.kind(),
        method,
    )
    .await
}

async fn event(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    user: Uuid,
    external_id: Option<String>,
    kind: Kind,
    method: &'static str,
) -> Result<(), DbErr> {
    let ev = Recorded {
        txn: Uuid::now_v7(),
        resource_type: "User",
        resource_id: user,
        external_id,
        method,
        activation: None,
        attributes: vec![kind.as_str().to_owned()],
        data: None,
        version: None,
    };
    shared::events::log::record(db, tenant, &ev).await.map(|_| ())
}
