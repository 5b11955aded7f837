//! End-to-end lag as an IdP would feel it: from the moment the api answered a request to the
//! first moment the product shows the change. A poller asks Postgres every few milliseconds
//! which of the awaited users' product rows already satisfy a condition; a row seen by a query
//! was committed before that query began, so the lag recorded (query start − answer) is an upper
//! bound, too high by at most one poll interval plus the query's own time.
//!
//! (The product row's `updated_at` would not do: it is the applying transaction's start, and a
//! later manager link moves it again.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::stats::Samples;

const POLL: Duration = Duration::from_millis(5);

/// A change the api accepted: the user it is about and when the api answered.
pub type Accepted = (Uuid, Instant);

/// Records the lag of every change sent on `accepted` until the sender is dropped and every
/// change has been seen (`condition` is SQL over `product.users`, e.g. `not active`). Panics
/// after `limit` without progress, naming how many are still missing.
pub async fn watch(
    db: DatabaseConnection,
    condition: String,
    mut accepted: mpsc::UnboundedReceiver<Accepted>,
    limit: Duration,
) -> Samples {
    let mut lags = Samples::default();
    let mut pending: HashMap<Uuid, Instant> = HashMap::new();
    let mut open = true;
    let mut progress = Instant::now();
    loop {
        while open {
            match accepted.try_recv() {
                Ok((id, at)) => {
                    pending.insert(id, at);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        if !open && pending.is_empty() {
            return lags;
        }
        let mut pause = POLL;
        if !pending.is_empty() {
            let asked = Instant::now();
            let ids: Vec<Uuid> = pending.keys().copied().collect();
            let rows = db
                .query_all_raw(shared::db::stmt(
                    &format!("select id from product.users where id = any($1) and ({condition})"),
                    [ids.into()],
                ))
                .await
                .expect("visibility poll");
            // Polling must not become the load it measures: at most a fifth of one connection.
            pause = pause.max(asked.elapsed() * 4);
            for r in rows {
                let id: Uuid = r.try_get("", "id").expect("id");
                if let Some(at) = pending.remove(&id) {
                    lags.push(asked.saturating_duration_since(at));
                    progress = Instant::now();
                }
            }
        }
        assert!(
            progress.elapsed() < limit,
            "{} changes not visible in the product after {limit:?} ({condition})",
            pending.len()
        );
        tokio::time::sleep(pause).await;
    }
}
