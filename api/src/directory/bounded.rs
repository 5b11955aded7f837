//! Reads whose cost a client controls (lists and searches with a filter): each runs in a
//! read-only transaction with a statement time limit, holds one of the tenant's few slots for
//! such reads (`admission`), and is cancelled in Postgres when the request is abandoned (the
//! client left, or the request timed out). Without this, a query kept running after its answer
//! was no longer wanted, holding a pooled connection for as long as it took.

use std::time::Duration;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, IsolationLevel, TransactionTrait,
};
use shared::db::stmt;
use uuid::Uuid;

use crate::admission::LinePermit;
use crate::error::ScimError;
use crate::scim::Kind;
use crate::state::AppState;

pub struct BoundedRead {
    /// `None` once finished; still `Some` on drop means the read was abandoned.
    txn: Option<DatabaseTransaction>,
    /// The backend running this transaction, to cancel its statement.
    pid: i32,
    db: DatabaseConnection,
    limit: Duration,
    _slot: LinePermit,
}

impl BoundedRead {
    /// Waits for one of the tenant's slots, then opens a read-only transaction (repeatable read,
    /// so that a page and its count agree) whose statements stop after `limit`.
    pub async fn begin(state: &AppState, tenant: Uuid, limit: Duration) -> Result<Self, ScimError> {
        let slot = state.admission.expensive_query(tenant).await;
        let txn = state
            .db
            .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
            .await?;
        // One round trip for both: the backend's pid, and the time limit for this transaction.
        let row = txn
            .query_one_raw(stmt(
                "select pg_backend_pid() as pid, set_config('statement_timeout', $1, true) as limit_set",
                [format!("{}ms", limit.as_millis().max(1)).into()],
            ))
            .await?
            .ok_or(sea_orm::DbErr::RecordNotFound("pg_backend_pid".into()))?;
        Ok(Self {
            pid: row.try_get("", "pid")?,
            txn: Some(txn),
            db: state.db.clone(),
            limit,
            _slot: slot,
        })
    }

    pub fn conn(&self) -> &impl ConnectionTrait {
        // Present from `begin` until `finish` consumes self.
        self.txn.as_ref().expect("a bounded read is open until finished")
    }

    /// Ends the read; hands back `result`, with a statement that ran out of time turned into
    /// the client error it is: the filter asks for more work than the server does per request.
    pub async fn finish<T>(mut self, result: Result<T, ScimError>) -> Result<T, ScimError> {
        let txn = self.txn.take();
        match result {
            Ok(v) => {
                if let Some(txn) = txn {
                    txn.commit().await?;
                }
                Ok(v)
            }
            Err(e) if e.timed_out => {
                tracing::warn!(
                    limit_ms = self.limit.as_millis() as u64,
                    "filtered read ran out of time"
                );
                Err(ScimError::invalid(
                    Kind::TooMany,
                    format!(
                        "the filter needs more than the {} ms a query may take here; narrow it \
                         (fewer 'co', 'sw' or 'ew' clauses, or an 'eq' on userName, externalId or id)",
                        self.limit.as_millis()
                    ),
                ))
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for BoundedRead {
    fn drop(&mut self) {
        let Some(txn) = self.txn.take() else { return };
        // Abandoned mid-read. The transaction moves into the task, so the connection stays ours
        // (and the pid names our statement, not another request's) until the cancel is done; a
        // cancel that reaches an idle backend is ignored by Postgres.
        let (db, pid) = (self.db.clone(), self.pid);
        tokio::spawn(async move {
            if let Err(e) = db
                .execute_raw(stmt("select pg_cancel_backend($1)", [pid.into()]))
                .await
            {
                tracing::warn!(error = %e, pid, "could not cancel an abandoned query");
            }
            let _ = txn.rollback().await;
            metrics::counter!("scim_abandoned_queries_total").increment(1);
        });
    }
}
