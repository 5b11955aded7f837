//! Keeps the planner's statistics of one schema's tables current, where autovacuum does not.
//!
//! sqlx prepares each statement once per pooled connection, and after five runs Postgres may
//! keep a generic plan, costed with the statistics the tables had then. Made while a new
//! tenant's tables were nearly empty, that plan is a sequential scan, and nothing replaces it
//! until the table is analysed: an ANALYZE invalidates every cached plan that reads the table,
//! in every session. With autovacuum off (as on the CI machine, and in some managed set-ups)
//! that never happens: a `userName eq` lookup went from 0.8 to 16 ms once 300,000 users were
//! added (docs/benchmark.md, "Apply as a tenant grows").
//!
//! So each binary analyses the tables of the schema it writes (the api `scim`, the worker
//! `product`) once their changes since the last analyse pass autovacuum's own threshold,
//! `50 + fraction × rows`. Where autovacuum runs, it usually gets there first and this finds
//! nothing to do. Replicas share the work: each table is analysed under a transaction-scoped
//! advisory lock (usable through a transaction pooler), and whoever gets the lock checks again
//! that the table still needs it.

use std::time::Duration;

use clap::Args;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::stmt;

/// Changes a table takes before its first analyse, as autovacuum's `autovacuum_analyze_threshold`.
const BASE_THRESHOLD: f64 = 50.0;

/// How long an analyse waits for its table lock (held by a VACUUM, another ANALYZE or a
/// migration) before the table is left for the next round.
const LOCK_WAIT: &str = "1s";

/// How often the planner's statistics are checked, and how stale they may grow.
#[derive(Args, Clone, Debug)]
pub struct StatisticsConfig {
    /// Seconds between checks of the schema's tables for stale planner statistics (0: never;
    /// leave it to autovacuum).
    #[arg(long, env = "SCIM_ANALYZE_INTERVAL_SECS", default_value_t = 10)]
    pub analyze_interval_secs: u64,

    /// A table is analysed once its rows changed since the last analyse exceed
    /// 50 + this fraction of its rows (autovacuum's `autovacuum_analyze_scale_factor`).
    #[arg(long, env = "SCIM_ANALYZE_FRACTION", default_value_t = 0.1, value_parser = fraction)]
    pub analyze_fraction: f64,
}

/// A fraction of a table's rows: finite and not negative (a negative one would analyse every
/// table every round, NaN none ever).
fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
        _ => Err(format!(
            "{s:?} is not a fraction of a table's rows (0, 0.1, 0.5 ...)"
        )),
    }
}

/// Checks `schema` every interval until `shutdown`; nothing when the interval is 0.
pub fn spawn(
    db: DatabaseConnection,
    schema: &'static str,
    cfg: StatisticsConfig,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    if cfg.analyze_interval_secs == 0 {
        return None;
    }
    let every = Duration::from_secs(cfg.analyze_interval_secs);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = analyze_stale(&db, schema, cfg.analyze_fraction).await {
                tracing::warn!(schema, error = %e, "could not bring the planner's statistics up to date");
            }
        }
    }))
}

/// Analyses the tables of `schema` whose statistics are stale; returns their names.
pub async fn analyze_stale(
    db: &DatabaseConnection,
    schema: &str,
    fraction: f64,
) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            &format!("select relname::text as name from ({STALE}) t"),
            [schema.into(), fraction.into(), BASE_THRESHOLD.into()],
        ))
        .await?;
    let mut analysed = Vec::new();
    for row in rows {
        let table: String = row.try_get("", "name")?;
        if analyze_if_stale(db, schema, &table, fraction).await? {
            analysed.push(table);
        }
    }
    Ok(analysed)
}

/// The tables of schema `$1` past their threshold (`$3 + $2 ×` rows), with their changes.
/// `reltuples` is -1 until the first analyse. Only tables this role may analyse (their owner's
/// privileges, as the binary that migrated them has): for others ANALYZE only warns and does
/// nothing, and they would be picked again every round.
const STALE: &str = "select s.relname, s.n_mod_since_analyze
       from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = $1
        and s.n_mod_since_analyze > $3::float8 + $2::float8 * greatest(c.reltuples, 0)
        and pg_has_role(c.relowner, 'USAGE')";

/// Analyses one table, unless another process is doing it or did it meanwhile; says whether it
/// did. A table busy past [`LOCK_WAIT`] is left for the next round.
async fn analyze_if_stale(
    db: &DatabaseConnection,
    schema: &str,
    table: &str,
    fraction: f64,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let key = format!("scim-relay analyze {schema}.{table}");
    let locked = txn
        .query_one_raw(stmt(
            "select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as locked",
            [key.into()],
        ))
        .await?
        .map(|r| r.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    if !locked {
        return Ok(false);
    }
    // Counters move after the other process's analyse committed: ask again under the lock.
    let changes: Option<i64> = txn
        .query_one_raw(stmt(
            &format!("select n_mod_since_analyze as changes from ({STALE}) t where relname = $4"),
            [
                schema.into(),
                fraction.into(),
                BASE_THRESHOLD.into(),
                table.into(),
            ],
        ))
        .await?
        .map(|r| r.try_get("", "changes"))
        .transpose()?;
    let Some(changes) = changes else {
        return Ok(false);
    };
    // An analyse reads a sample of at most 300 × default_statistics_target rows whatever the
    // table's size: its time is bounded without the pool's statement timeout.
    txn.execute_unprepared(&format!(
        "set local statement_timeout = 0; set local lock_timeout = '{LOCK_WAIT}'"
    ))
    .await?;
    let started = std::time::Instant::now();
    match txn
        .execute_unprepared(&format!("analyze {}.{}", quoted(schema), quoted(table)))
        .await
    {
        Ok(_) => {}
        // 55P03 lock_not_available: a VACUUM or migration holds the table; next round.
        Err(e) if crate::db::sqlstate(&e).as_deref() == Some("55P03") => {
            tracing::debug!(schema, table, "table busy; its analyse waits for the next round");
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    txn.commit().await?;
    // Small tables with steady updates (the api's listener heartbeats) pass the threshold about
    // once a minute: counted, and logged only at debug.
    metrics::counter!("scim_tables_analysed_total", "table" => format!("{schema}.{table}")).increment(1);
    tracing::debug!(
        schema,
        table,
        changes,
        ms = started.elapsed().as_millis() as u64,
        "analysed a table whose planner statistics were stale"
    );
    Ok(true)
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fraction_is_finite_and_not_negative() {
        assert_eq!(fraction("0.1"), Ok(0.1));
        assert_eq!(fraction("0"), Ok(0.0));
        for bad in ["-0.1", "NaN", "inf", "ten"] {
            assert!(fraction(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_are_quoted_with_their_quotes_doubled() {
        assert_eq!(quoted("users"), "\"users\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
