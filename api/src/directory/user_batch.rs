//! Group commit of user creates. POSTs that arrive while earlier ones are being written wait
//! together and are written by one statement (their users, outbox rows and events): one round
//! trip and one commit for many creates, where each alone costs its own. Nobody waits for a
//! timer: a create that finds a statement slot free is written at once, alone; only when every
//! slot is busy do the creates arriving meanwhile gather into the next statement.
//!
//! A create never fails because of its neighbours. The statement skips a user whose userName is
//! taken (`on conflict do nothing`), and a create it did not write (that one, or all of them when
//! the statement as a whole fails) is written again on its own by the request
//! (`users::insert_coalesced`), which then gets exactly the answer it would have got alone.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde_json::{Value as Json, json};
use shared::db::stmt;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::users::StoredUser;
use crate::outbox::{Enqueued, Prepared};

/// Creates written by one statement at most.
const MAX_BATCH: usize = 64;
/// Creates waiting for a statement; beyond this a request writes its create on its own.
const QUEUE: usize = 1024;

/// A create as the statement writes it: the user, its message and its event, all worked out by
/// the request.
pub struct Planned {
    pub stored: StoredUser,
    pub out: Prepared,
    /// The user's row columns (see `users::row_json`).
    pub row: Json,
    /// The event row (`shared::events::log::json`).
    pub event: Json,
}

struct Waiting {
    planned: Planned,
    reply: oneshot::Sender<Option<(StoredUser, Enqueued, bool)>>,
}

/// The queue of creates waiting for a statement. Cloned into every request's state.
#[derive(Clone)]
pub struct Creates {
    tx: mpsc::Sender<Waiting>,
}

impl Creates {
    /// Starts the writer on `db` with at most `statements` statements in flight (0: no group
    /// commit; every create is written on its own).
    pub fn spawn(db: DatabaseConnection, statements: usize) -> Option<Self> {
        if statements == 0 {
            return None;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx, Arc::new(Semaphore::new(statements))));
        Some(Self { tx })
    }

    /// Writes `planned` with whatever other creates are waiting. `None` when it was not
    /// written (its userName was taken, the statement failed, the writer is gone or full): the
    /// caller writes it on its own.
    pub async fn write(&self, planned: Planned) -> Option<(StoredUser, Enqueued, bool)> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Waiting { planned, reply }).ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Waiting>, slots: Arc<Semaphore>) {
    loop {
        // A slot first: while none is free, creates gather in the queue for the next statement.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let db = db.clone();
        tokio::spawn(async move {
            write(&db, batch).await;
            drop(slot);
        });
    }
}

/// Raw: a data-modifying `with` over a JSON array has no builder form. The users are inserted
/// in key order, so that two statements inserting the same userNames wait for each other
/// rather than deadlock.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    use shared::events::log::{RECORD_TYPE, column_list};
    format!(
        "with i as (
             select * from jsonb_to_recordset($1) as i(n int, tenant_id uuid, id uuid, user_name text,
                 user_name_key text, external_id text, active boolean, resource jsonb, at timestamptz,
                 message_id uuid, routing_key text, payload jsonb, ev jsonb)),
         u as (
             insert into scim.users (tenant_id, id, user_name, user_name_key, external_id, active, resource, version, created_at, updated_at)
             select tenant_id, id, user_name, user_name_key, external_id, active, resource, 1, at, at
             from i order by tenant_id, user_name_key
             on conflict do nothing
             returning id),
         o as (
             insert into scim.outbox (message_id, tenant_id, routing_key, payload)
             select i.message_id, i.tenant_id, i.routing_key, i.payload from i join u on u.id = i.id order by i.n
             returning id, message_id),
         e as (
             insert into scim.events ({columns})
             select ev.* from i join u on u.id = i.id cross join lateral jsonb_to_record(i.ev) as ev({RECORD_TYPE})
             where exists (select 1 from scim.event_streams s where s.tenant_id = i.tenant_id)
             returning resource_id)
         select i.n, o.id as outbox_id, exists (select 1 from e where e.resource_id = i.id) as evented
         from i join o on o.message_id = i.message_id",
        columns = column_list(),
    )
});

async fn write(db: &DatabaseConnection, mut batch: Vec<Waiting>) {
    let n = batch.len();
    // Their ratio is the mean number of creates per statement.
    metrics::counter!("scim_create_statements_total").increment(1);
    metrics::counter!("scim_create_statement_creates_total").increment(n as u64);
    let rows: Vec<Json> = batch
        .iter_mut()
        .enumerate()
        .map(|(n, w)| item(n, &mut w.planned))
        .collect();
    let written = match inserted(db, rows).await {
        Ok(written) => written,
        Err(e) => {
            // Each is written again on its own, and gets its own answer.
            tracing::warn!(error = %e, creates = n, "a statement of creates failed as a whole");
            HashMap::new()
        }
    };
    for (i, w) in batch.into_iter().enumerate() {
        let done = written.get(&i).map(|&(outbox_id, evented)| {
            let Planned { stored, out, .. } = w.planned;
            (stored, out.written(outbox_id), evented)
        });
        // A request that went away no longer waits; its user is written all the same.
        let _ = w.reply.send(done);
    }
}

/// The outbox row and whether an event row was written, by position in the batch, of every
/// create the statement wrote.
async fn inserted(db: &DatabaseConnection, rows: Vec<Json>) -> Result<HashMap<usize, (i64, bool)>, DbErr> {
    let result = db
        .query_all_raw(stmt(&INSERT, [Json::Array(rows).into()]))
        .await?;
    result
        .iter()
        .map(|r| {
            let n: i32 = r.try_get("", "n")?;
            Ok((
                n as usize,
                (r.try_get("", "outbox_id")?, r.try_get("", "evented")?),
            ))
        })
        .collect()
}

/// The statement's element for `p`. Its row, payload and event move into it: once written,
/// only the stored user and the message's envelope are still needed.
fn item(n: usize, p: &mut Planned) -> Json {
    let mut row = std::mem::take(&mut p.row);
    if let Some(o) = row.as_object_mut() {
        o.insert("n".into(), json!(n));
        o.insert("id".into(), json!(p.stored.meta.id));
        o.insert("at".into(), json!(p.stored.meta.created));
        o.insert("message_id".into(), json!(p.out.message.message_id));
        o.insert("tenant_id".into(), json!(p.out.message.tenant_id));
        o.insert("routing_key".into(), json!(p.out.message.routing_key));
        o.insert("payload".into(), std::mem::take(&mut p.out.payload));
        o.insert("ev".into(), std::mem::take(&mut p.event));
    }
    row
}
