//! A person's decision on a tenant's held deprovisionings, and what the admin API and page show
//! of the guard. Both decisions take the tenant's policy lock, as the write path does when it
//! holds a change, so a decision covers exactly the changes held before it; repeating one finds
//! nothing left to decide (0), which makes both idempotent.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use shared::db::stmt;
use shared::domain::deprovisioning::{Kind, Policy, State};
use shared::entity::scim_deprovisioning_guard as guard;
use shared::messages::{ChangeMessage, Resource};
use uuid::Uuid;

use crate::outbox::{self, Enqueued};

/// Messages written to the outbox per statement when a large hold is approved.
const CHUNK: usize = 1000;
/// Held users, protected attempts and waiting changes shown as a sample.
pub const SAMPLE: u64 = 20;

/// What a decision did.
pub struct Decided {
    /// Deprovisionings decided.
    pub count: u64,
    /// Messages to dispatch now that the decision is committed (an approval's).
    pub out: Vec<Enqueued>,
    /// Whether event rows were written (the sequencer has work).
    pub evented: bool,
}

/// Sends every held change of the tenant to the product, in the order they were held.
pub async fn approve(db: &DatabaseConnection, tenant: Uuid) -> Result<Decided, DbErr> {
    decide(db, tenant, State::Approved).await
}

/// Discards every held change: the product keeps those users as they are until the IdP sends a
/// later change for them.
pub async fn reject(db: &DatabaseConnection, tenant: Uuid) -> Result<Decided, DbErr> {
    decide(db, tenant, State::Rejected).await
}

async fn decide(db: &DatabaseConnection, tenant: Uuid, to: State) -> Result<Decided, DbErr> {
    let txn = db.begin().await?;
    super::lock_policy(&txn, tenant).await?;
    // The held rows as they were (`returning` would give the new, message-less ones).
    let rows = txn
        .query_all_raw(stmt(
            "with h as (
                 select id, user_id, kind, messages from scim.deprovisions
                 where tenant_id = $1 and state = 'held' for update),
             u as (
                 update scim.deprovisions d set state = $2, decided_at = now(), messages = null
                 from h where d.id = h.id)
             select h.id, h.user_id, h.kind, h.messages::text from h order by h.id",
            [tenant.into(), to.as_str().into()],
        ))
        .await?;
    let with_streams = !crate::events::streams::of_tenant(&txn, tenant).await?.is_empty();
    let method = if to == State::Approved {
        "APPROVE"
    } else {
        "REJECT"
    };
    let mut messages: Vec<ChangeMessage> = Vec::new();
    for row in &rows {
        let user: Uuid = row.try_get_by_index(1)?;
        let kind = Kind::parse(&row.try_get_by_index::<String>(2)?);
        let held: Vec<ChangeMessage> = row
            .try_get_by_index::<Option<String>>(3)?
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        if with_streams {
            let external_id = held.iter().find_map(|m| match &m.resource {
                Resource::User(u) => u.external_id.clone(),
                _ => None,
            });
            super::event(&txn, tenant, user, external_id, kind, method).await?;
        }
        if to == State::Approved {
            messages.extend(held);
        }
    }
    let mut out = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(CHUNK) {
        out.extend(outbox::enqueue_many(&txn, chunk).await?);
    }
    txn.commit().await?;
    let count = rows.len() as u64;
    if count > 0 {
        metrics::counter!("scim_deprovisioning_decided_total", "decision" => to.as_str()).increment(count);
        tracing::warn!(tenant_id = %tenant, decision = to.as_str(), count, messages = out.len(), "held deprovisionings decided by the tenant's admin");
    }
    Ok(Decided {
        count,
        out,
        evented: with_streams && count > 0,
    })
}

/// One deprovisioning as the admin API and page show it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub user_id: Uuid,
    pub user_name: String,
    pub kind: String,
    pub at: DateTime<Utc>,
    /// When a change in its grace period reaches the product.
    pub release_at: Option<DateTime<Utc>>,
}

/// The guard of one tenant as it stands.
#[derive(Debug, Clone)]
pub struct Status {
    pub policy: Policy,
    pub held: i64,
    pub held_sample: Vec<Entry>,
    pub grace: i64,
    pub grace_sample: Vec<Entry>,
    pub rejected: i64,
    /// Deprovisionings counted in the window now, and how many it allows.
    pub recent: i64,
    pub allowed: i64,
    /// Attempts on protected accounts, most recent first.
    pub protected_attempts: Vec<Entry>,
}

/// Stores the tenant's policy (checked by the caller). Held changes stay held whatever it says:
/// only a decision releases them.
pub async fn put_policy(db: &impl ConnectionTrait, tenant: Uuid, p: &Policy) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "insert into scim.deprovisioning_guards as g
             (tenant_id, enabled, max_fraction, min_count, window_minutes, grace_minutes, protected, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, now())
         on conflict (tenant_id) do update set enabled = excluded.enabled, max_fraction = excluded.max_fraction,
             min_count = excluded.min_count, window_minutes = excluded.window_minutes,
             grace_minutes = excluded.grace_minutes, protected = excluded.protected, updated_at = now()",
        [
            tenant.into(),
            p.enabled.into(),
            p.max_fraction.into(),
            p.min_count.into(),
            p.window_minutes.into(),
            p.grace_minutes.into(),
            p.protected.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn status(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Status, DbErr> {
    let row = guard::Entity::find_by_id(tenant).one(db).await?;
    // The base the write path last counted, if it has (the status shows what it would allow).
    let base = row.as_ref().and_then(|r| r.base_active);
    let policy = Policy::of_row(row);
    let counts = db
        .query_one_raw(stmt(
            "select
               count(*) filter (where state = 'held'),
               count(*) filter (where state = 'grace'),
               count(*) filter (where state = 'rejected'),
               count(*) filter (where state in ('passed', 'grace', 'released')
                                  and created_at > now() - make_interval(mins => $2)),
               (select count(*) from scim.users where tenant_id = $1 and active and deleted_at is null)
             from scim.deprovisions where tenant_id = $1",
            [tenant.into(), policy.window_minutes.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotFound("counts".into()))?;
    let (held, grace, rejected, recent, active): (i64, i64, i64, i64, i64) = (
        counts.try_get_by_index(0)?,
        counts.try_get_by_index(1)?,
        counts.try_get_by_index(2)?,
        counts.try_get_by_index(3)?,
        counts.try_get_by_index(4)?,
    );
    let allowed = policy.allowed(base.unwrap_or(active + recent + held));
    Ok(Status {
        held_sample: entries(db, tenant, "state = 'held' order by id").await?,
        grace_sample: entries(db, tenant, "state = 'grace' order by release_at, id").await?,
        protected_attempts: entries(db, tenant, "state = 'protected' order by id desc").await?,
        policy,
        held,
        grace,
        rejected,
        recent,
        allowed,
    })
}

/// Up to [`SAMPLE`] of the tenant's deprovisionings, `clause` choosing which and in what order
/// (a constant of this module, never input).
async fn entries(db: &impl ConnectionTrait, tenant: Uuid, clause: &'static str) -> Result<Vec<Entry>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            &format!(
                "select user_id, user_name, kind, created_at, release_at from scim.deprovisions
                 where tenant_id = $1 and {clause} limit {SAMPLE}"
            ),
            [tenant.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                user_id: r.try_get_by_index(0)?,
                user_name: r.try_get_by_index(1)?,
                kind: r.try_get_by_index(2)?,
                at: r.try_get_by_index::<DateTime<chrono::FixedOffset>>(3)?.to_utc(),
                release_at: r
                    .try_get_by_index::<Option<DateTime<chrono::FixedOffset>>>(4)?
                    .map(|t| t.to_utc()),
            })
        })
        .collect()
}
