//! Postgres connections: pool set-up, waiting for the server at start-up, and the one place that
//! decides which database errors are worth retrying.

use std::ops::Deref;
use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr, Statement};

use crate::config::{DatabaseConfig, Pooler};
use crate::retry::{RetryPolicy, Transience, retry};

const PG: sea_orm::DbBackend = sea_orm::DbBackend::Postgres;

/// Builds a statement with `$1..$n` placeholders.
pub fn stmt(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(PG, sql, values)
}

/// A duration as a Postgres `interval` bound as one value, for deadlines on the database's
/// clock (`now() - interval`); microseconds are the interval's own resolution.
pub fn interval(d: Duration) -> Expr {
    Expr::val(format!("{} microseconds", d.as_micros())).cast_as("interval")
}

/// What every pooled session runs with (through PgBouncer, what the server must give it):
/// `jit = off`. JIT compilation pays off for long analytical queries and cost 0.4-2 s per
/// statement here once a table grew past its cost threshold (the worker's manager relink after
/// 100,000 users: 2 s of JIT for 2 ms of work).
const JIT: (&str, &str) = ("jit", "off");

/// What the workers' sessions run with besides ([`DatabaseConfig::custom_plans`]). sqlx
/// prepares every statement once per connection, and after five runs Postgres may keep a
/// generic plan, costed as the tables stood then. Planned while a new tenant's tables were
/// nearly empty, that plan is a sequential scan, and nothing replaces it until an ANALYZE of the
/// table: never where autovacuum is off (as on the CI machine), only every 10% of growth where
/// it is on. During a 4-minute import the worker's read of a batch's rows by id took 30 ms and
/// the emails branch of its manager resolution scanned the table for every user, so the apply
/// rate fell as the tenant grew (docs/benchmark.md, "Apply as a tenant grows"). A custom plan
/// is made for each run with the tables' current size; the statements are still parsed once.
/// The api does without: planning every run of its create statement cost Postgres 35-50% more
/// per POST (`scripts/profile create`). Its reads are exposed all the same: a `userName eq`
/// lookup whose generic plan was made on a nearly empty directory went from 0.8 to 16 ms once
/// 300,000 users were added with autovacuum off (docs/benchmark.md, "Apply as a tenant grows").
const CUSTOM_PLANS: (&str, &str) = ("plan_cache_mode", "force_custom_plan");

/// The session settings `cfg` asks for.
fn session_settings(cfg: &DatabaseConfig) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![JIT];
    if cfg.custom_plans {
        settings.push(CUSTOM_PLANS);
    }
    settings
}

/// Opens the pool, waiting with backoff while Postgres is not reachable yet.
pub async fn connect(cfg: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    cfg.check().map_err(DbErr::Custom)?;
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    let statement_timeout = cfg.statement_timeout.map(|t| t.as_millis().max(1).to_string());
    let pooler = cfg.database_pooler;
    let settings = session_settings(cfg);
    opts.max_connections(cfg.database_max_connections)
        .min_connections(1)
        .acquire_timeout(cfg.acquire_timeout())
        .connect_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // Statements carry user attributes; they are not routine log material.
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            // PgBouncer refuses startup parameters it does not know: `options` (one it tracked
            // would not reach the server anyway), so the settings come from the server side
            // (`check_settings`), and sqlx's `extra_float_digits`, whose value 2 only served
            // servers before 12 (from 12 the default, 1, prints floats exactly).
            if pooler == Pooler::Pgbouncer {
                return o.extra_float_digits(None);
            }
            let o = o.options(settings.iter().copied());
            match &statement_timeout {
                Some(ms) => o.options([("statement_timeout", ms.as_str())]),
                None => o,
            }
        });
    let db = retry(RetryPolicy::STARTUP, "connect to postgres", || {
        let opts = opts.clone();
        async move {
            let db = Database::connect(opts).await.map_err(Retryable)?;
            db.execute_unprepared("select 1").await.map_err(Retryable)?;
            Ok(db)
        }
    })
    .await
    .map_err(|e: Retryable| e.0)?;
    if pooler == Pooler::Pgbouncer {
        check_settings(&db, cfg).await?;
    }
    Ok(db)
}

/// Opens a connection straight to Postgres (`DATABASE_DIRECT_URL`) for what a transaction
/// pooler cannot carry.
pub async fn connect_direct(cfg: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    connect(&cfg.direct()).await
}

/// Through a transaction pooler the binary cannot set `statement_timeout`, `jit` or
/// `plan_cache_mode` itself: says so once at start when the server's settings are not the ones
/// it would have set.
async fn check_settings(db: &DatabaseConnection, cfg: &DatabaseConfig) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(stmt(
            "select current_setting('statement_timeout') as timeout,
                    current_setting('jit') as jit,
                    current_setting('plan_cache_mode') as plan_cache_mode,
                    (extract(epoch from current_setting('statement_timeout')::interval) * 1000)::bigint as ms",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no answer to a settings query".into()))?;
    let jit: String = row.try_get("", "jit")?;
    let plan_cache_mode: String = row.try_get("", "plan_cache_mode")?;
    let ms: i64 = row.try_get("", "ms")?;
    let wanted = cfg.statement_timeout.map_or(0, |t| t.as_millis() as i64);
    let got = [
        ("jit", jit.as_str()),
        ("plan_cache_mode", plan_cache_mode.as_str()),
    ];
    let as_set = session_settings(cfg).iter().all(|wanted| got.contains(wanted));
    if !as_set || ms != wanted {
        let timeout: String = row.try_get("", "timeout")?;
        tracing::warn!(
            statement_timeout = %timeout,
            wanted_statement_timeout_ms = wanted,
            jit = %jit,
            plan_cache_mode = %plan_cache_mode,
            "through PgBouncer the server's statement_timeout, jit and plan_cache_mode apply, \
             and they are not what this binary would set (jit off; for the workers \
             plan_cache_mode force_custom_plan too): set them for its role (ALTER ROLE ... SET) \
             or in PgBouncer's connect_query for its database entry (docs/operations.md)"
        );
    }
    Ok(())
}

/// At start-up any failure to reach the server is worth waiting for (DNS not ready, server
/// still starting, database being created by the container entrypoint).
struct Retryable(DbErr);
impl std::fmt::Display for Retryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl Transience for Retryable {
    fn is_transient(&self) -> bool {
        true
    }
}

/// SQLSTATE of a database error, if the error came from the server.
pub fn sqlstate(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match e.deref() {
            sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Name of the violated unique constraint, if that is what happened.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.deref() {
            sea_orm::sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                Some(db.constraint().unwrap_or_default().to_owned())
            }
            _ => None,
        },
        _ => None,
    }
}

impl Transience for DbErr {
    /// Transient: the server or the network is unavailable, the pool is exhausted, or the
    /// transaction lost a serialisation or deadlock race. Everything else (constraint violations,
    /// type errors, bad SQL) fails the same way when retried.
    fn is_transient(&self) -> bool {
        match self {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                use sea_orm::sqlx::Error as X;
                match e.deref() {
                    X::Io(_)
                    | X::Tls(_)
                    | X::PoolTimedOut
                    | X::PoolClosed
                    | X::WorkerCrashed
                    | X::Protocol(_) => true,
                    X::Database(db) => db.code().is_some_and(|c| is_transient_sqlstate(&c)),
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// Class 08 connection exceptions, 40 transaction rollbacks (serialisation failure, deadlock),
/// 53 insufficient resources, 57P0x operator intervention (shutdown, crash recovery).
fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("40") || code.starts_with("53") || code.starts_with("57P")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_rollback_classes_are_transient() {
        for c in ["08006", "40001", "40P01", "53300", "57P01", "57P03"] {
            assert!(is_transient_sqlstate(c), "{c}");
        }
    }

    #[test]
    fn constraint_and_syntax_errors_are_permanent() {
        for c in ["23505", "23503", "42601", "22P02"] {
            assert!(!is_transient_sqlstate(c), "{c}");
        }
    }

    #[test]
    fn durations_become_one_interval_value_in_microseconds() {
        use sea_orm::sea_query::{PostgresQueryBuilder, Query};
        let sql = Query::select()
            .expr(interval(Duration::from_millis(1500)))
            .to_string(PostgresQueryBuilder);
        assert_eq!(sql, "SELECT CAST('1500000 microseconds' AS interval)");
    }

    #[test]
    fn pool_exhaustion_is_transient() {
        assert!(DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout).is_transient());
        assert!(!DbErr::Custom("x".into()).is_transient());
    }
}
