//! The guard's background task in every api process: sends the deprovisionings whose grace
//! period ended (claimed with `skip locked`, so several api processes share the work and none
//! sends one twice), keeps the held/grace gauges of `/metrics` current, and trims history the
//! window no longer counts.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use shared::db::stmt;
use shared::messages::ChangeMessage;
use tokio_util::sync::CancellationToken;

use crate::outbox::{self, dispatch::Dispatcher};

/// How often due grace periods are looked for: a grace period is minutes long.
const TICK: Duration = Duration::from_secs(2);
/// Deprovisionings released per transaction.
const BATCH: i64 = 500;
/// Ticks between trims of the history.
const TRIM_EVERY: u32 = 30;
/// How long decided deprovisionings stay listed (the window counts only its own minutes, at
/// most a week).
const HISTORY: &str = "30 days";
const COUNTED_HISTORY: &str = "8 days";

pub fn spawn(
    db: DatabaseConnection,
    dispatcher: Dispatcher,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = 0u32;
        loop {
            loop {
                match release_due(&db).await {
                    Ok(out) if out.is_empty() => break,
                    Ok(out) => {
                        tracing::info!(
                            messages = out.len(),
                            "deprovisionings released after their grace period"
                        );
                        dispatcher.send(out);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not release deprovisionings after their grace period; retrying");
                        break;
                    }
                }
            }
            if let Err(e) = gauges(&db).await {
                tracing::debug!(error = %e, "could not count held deprovisionings");
            }
            if tick.is_multiple_of(TRIM_EVERY)
                && let Err(e) = trim(&db).await
            {
                tracing::debug!(error = %e, "could not trim the deprovisioning guard's history");
            }
            tick = tick.wrapping_add(1);
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = shutdown.cancelled() => return,
            }
        }
    })
}

/// Sends up to [`BATCH`] deprovisionings whose grace period ended, in one transaction with
/// their new state; returns what to dispatch.
pub async fn release_due(db: &DatabaseConnection) -> Result<Vec<outbox::Enqueued>, DbErr> {
    let txn = db.begin().await?;
    let rows = txn
        .query_all_raw(stmt(
            "with due as (
                 select id, messages from scim.deprovisions
                 where state = 'grace' and release_at <= now()
                 order by release_at, id limit $1 for update skip locked),
             u as (
                 update scim.deprovisions d set state = 'released', decided_at = now(), messages = null
                 from due where d.id = due.id)
             select due.messages::text from due order by due.id",
            [BATCH.into()],
        ))
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut messages: Vec<ChangeMessage> = Vec::new();
    for r in &rows {
        let held: Option<String> = r.try_get_by_index(0)?;
        messages.extend(
            held.and_then(|m| serde_json::from_str::<Vec<ChangeMessage>>(&m).ok())
                .unwrap_or_default(),
        );
    }
    let out = outbox::enqueue_many(&txn, &messages).await?;
    txn.commit().await?;
    metrics::counter!("scim_deprovisioning_released_total").increment(rows.len() as u64);
    Ok(out)
}

/// The `/metrics` gauges: held deprovisionings, the tenants holding some, and those in grace.
async fn gauges(db: &DatabaseConnection) -> Result<(), DbErr> {
    // Each count on its own partial index.
    let row = db
        .query_one_raw(stmt(
            "select (select count(*) from scim.deprovisions where state = 'held'),
                    (select count(distinct tenant_id) from scim.deprovisions where state = 'held'),
                    (select count(*) from scim.deprovisions where state = 'grace')",
            [],
        ))
        .await?;
    if let Some(r) = row {
        let (held, tenants, grace): (i64, i64, i64) = (
            r.try_get_by_index(0)?,
            r.try_get_by_index(1)?,
            r.try_get_by_index(2)?,
        );
        metrics::gauge!("scim_deprovisioning_held").set(held as f64);
        metrics::gauge!("scim_deprovisioning_tenants_holding").set(tenants as f64);
        metrics::gauge!("scim_deprovisioning_in_grace").set(grace as f64);
    }
    Ok(())
}

async fn trim(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        &format!(
            "delete from scim.deprovisions where id in (
                 select id from scim.deprovisions
                 where (state in ('passed', 'released') and created_at < now() - interval '{COUNTED_HISTORY}')
                    or (state in ('approved', 'cancelled', 'protected') and decided_at < now() - interval '{HISTORY}')
                 limit 10000)"
        ),
        [],
    ))
    .await?;
    Ok(())
}
