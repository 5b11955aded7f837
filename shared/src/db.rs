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
///
/// The plan cache is left at its default. sqlx prepares every statement once per connection,
/// and after five runs Postgres may keep a generic plan, costed as the tables stood then; made
/// while a tenant's tables were nearly empty, that is a sequential scan, which only an ANALYZE
/// of the table replaces. `crate::statistics` keeps the statistics current where autovacuum
/// does not, which replaces such plans as the tables grow. Planning every run instead
/// (`plan_cache_mode = force_custom_plan`, what the workers did before it) cost Postgres 15-70%
/// more CPU per change applied and 35-50% more per POST (docs/benchmark.md, "Apply as a tenant
/// grows").
const JIT: (&str, &str) = ("jit", "off");

/// Opens the pool, waiting with backoff while Postgres is not reachable yet.
pub async fn connect(cfg: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    cfg.check().map_err(DbErr::Custom)?;
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    let statement_timeout = cfg.statement_timeout.map(|t| t.as_millis().max(1).to_string());
    let pooler = cfg.database_pooler;
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
            let o = o.options([JIT]);
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

/// Through a transaction pooler the binary cannot set `statement_timeout` or `jit` itself: says
/// so once at start when the server's settings are not the ones it would have set.
async fn check_settings(db: &DatabaseConnection, cfg: &DatabaseConfig) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(stmt(
            "select current_setting('statement_timeout') as timeout,
                    current_setting('jit') as jit,
                    (extract(epoch from current_setting('statement_timeout')::interval) * 1000)::bigint as ms",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no answer to a settings query".into()))?;
    let jit: String = row.try_get("", "jit")?;
    let ms: i64 = row.try_get("", "ms")?;
    let wanted = cfg.statement_timeout.map_or(0, |t| t.as_millis() as i64);
    if jit != JIT.1 || ms != wanted {
        let timeout: String = row.try_get("", "timeout")?;
        tracing::warn!(
            statement_timeout = %timeout,
            wanted_statement_timeout_ms = wanted,
            jit = %jit,
            "through PgBouncer the server's statement_timeout and jit apply, and they are not \
             what this binary would set (jit off): set them for its role (ALTER ROLE ... SET) \
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
