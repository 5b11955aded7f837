//! Live tokens kept in memory, so that an authenticated request costs no database round trip,
//! with revocation still taking effect at once.
//!
//! The rule that keeps it safe: **the cache is used only while this process is listening** on
//! the `scim_auth` channel, which Postgres triggers notify whenever a token is revoked or deleted
//! or a tenant's schemas change (directory migration 14). Every notification empties the cache.
//! Until the listener is connected, and from the moment it fails until it has listened again,
//! every request goes to the database and nothing is cached; reconnecting starts from an empty
//! cache, since notifications sent meanwhile were lost.
//!
//! A lookup that started before a notification must not put back what the notification
//! removed: each entry is inserted only if the cache's generation (bumped by every notification
//! and every change of the listener's state) is the one read before the lookup.
//!
//! Only live tokens are cached (never misses), at most [`CAPACITY`], keyed by the token's
//! SHA-256: a flood of invented tokens costs what it costs without the cache and no memory.
//!
//! A notification reaches every api at its commit, but an api may take its time to read it. So
//! whoever changes tokens or schemas through this code ([`announced`]: token rotation and
//! revocation from the CLI or the admin API, schema and mapping changes) then sends a marker on
//! the channel and waits until every api that keeps a cache has acknowledged it (directory
//! migration 15): notifications arrive in commit order, so each has emptied its cache by then,
//! and the revoked token is refused by every api at the very next request. An api that cannot
//! acknowledge (it stopped hearing) has turned its cache off by the time it is no longer waited
//! for ([`DEAF_AFTER`] < [`ALIVE_FOR`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio_util::sync::CancellationToken;

use crate::tokens::Authenticated;

const CHANNEL: &str = "scim_auth";
/// Far above the number of tenants one api serves; when full, the cache starts again.
const CAPACITY: usize = 100_000;
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// Payloads of the listener's own pings; any other payload is a change.
const PING: &str = "ping:";
const PING_EVERY: Duration = Duration::from_secs(1);
const DEAF_AFTER: Duration = Duration::from_secs(3);
/// A marker's payload prefix; the rest is the marker's id, which the listener acknowledges.
const MARKER: &str = "ack:";
/// How long after it last heard its own ping an api is waited for: longer than [`DEAF_AFTER`],
/// after which its cache is off anyway.
const ALIVE_FOR: &str = "4 seconds";
/// How long a change's author waits for acknowledgements at most.
const WAIT_AT_MOST: Duration = Duration::from_secs(5);
const WAIT_POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
pub struct AuthCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    listening: bool,
    generation: u64,
    live: HashMap<Vec<u8>, Authenticated>,
}

/// Where a lookup stands: served from memory, or to be looked up (and then maybe cached under
/// this generation).
pub enum Lookup {
    Hit(Authenticated),
    Miss(Option<u64>),
}

impl AuthCache {
    pub fn lookup(&self, digest: &[u8]) -> Lookup {
        let state = self.lock();
        if !state.listening {
            return Lookup::Miss(None);
        }
        match state.live.get(digest) {
            Some(auth) => Lookup::Hit(*auth),
            None => Lookup::Miss(Some(state.generation)),
        }
    }

    /// Caches a live token found by a lookup that began at `generation`.
    pub fn insert(&self, digest: Vec<u8>, auth: Authenticated, generation: Option<u64>) {
        let mut state = self.lock();
        if !state.listening || Some(state.generation) != generation {
            return;
        }
        if state.live.len() >= CAPACITY {
            state.live.clear();
        }
        state.live.insert(digest, auth);
    }

    /// Something a cached entry may rest on changed: a notification, or a change this process
    /// made itself. The admin API calls it after its own token and schema changes, so that this
    /// api's next request sees them without waiting for the notification to come round.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.live.clear();
        metrics::counter!("scim_auth_cache_invalidations_total").increment(1);
    }

    fn set_listening(&self, listening: bool) {
        let mut state = self.lock();
        state.listening = listening;
        state.generation += 1;
        state.live.clear();
        metrics::gauge!("scim_auth_cache_listening").set(if listening { 1.0 } else { 0.0 });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds a consistent map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Listens on `scim_auth` until shutdown, reconnecting after failures.
pub fn spawn(
    cache: std::sync::Arc<AuthCache>,
    db: DatabaseConnection,
    database_url: String,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let me = uuid::Uuid::now_v7();
        loop {
            tokio::select! {
                () = listen(&cache, &db, &database_url, me) => {}
                () = shutdown.cancelled() => break,
            }
            cache.set_listening(false);
            unregister(&db, me).await;
            tokio::select! {
                () = tokio::time::sleep(RECONNECT_AFTER) => {}
                () = shutdown.cancelled() => break,
            }
        }
        cache.set_listening(false);
        unregister(&db, me).await;
    })
}

/// One connection's life: listen, turn the cache on once the first ping is heard, then empty it
/// at each notification; returns when the connection fails or goes quiet.
///
/// A connection that dies without a word (a network partition, a NAT dropping it) would leave
/// the cache on and deaf to revocations. So the listener sends itself a ping on the channel
/// every [`PING_EVERY`] through the pool and turns the cache off when one has not come back
/// within [`DEAF_AFTER`]: a silent failure keeps a revoked token working for that long at most.
async fn listen(cache: &AuthCache, db: &DatabaseConnection, database_url: &str, id: uuid::Uuid) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = match PgListener::connect(database_url).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "auth cache off: cannot connect to listen for token changes");
            return;
        }
    };
    // sqlx would reconnect silently inside `recv` and lose what was sent meanwhile; a lost
    // connection must turn the cache off instead, so it is watched with `try_recv`.
    listener.ignore_pool_close_event(true);
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::warn!(error = %e, "auth cache off: cannot listen for token changes");
        return;
    }
    // Registered once listening, so that every marker sent from now on reaches this api; before
    // the cache is on, so that no author stops waiting while this api could serve from memory.
    if let Err(e) = sql(
        db,
        "with gone as (delete from scim.auth_listeners where alive_at < now() - interval '1 hour')
         insert into scim.auth_listeners (id) values ($1)
         on conflict (id) do update set registered_at = now(), alive_at = now()",
        id,
    )
    .await
    {
        tracing::warn!(error = %e, "auth cache off: cannot register as a listener");
        return;
    }
    let me = format!("{PING}{id}");
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    // On only once the first ping came back: a connection that can LISTEN but never hears
    // (through a transaction-pooling PgBouncer) must never turn the cache on.
    let mut on = false;
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(n)) if n.payload() == me => {
                    heard = Instant::now();
                    if let Err(e) = sql(db, "update scim.auth_listeners set alive_at = now() where id = $1", id).await {
                        tracing::debug!(error = %e, "auth cache: alive_at not moved");
                    }
                    if !on {
                        on = true;
                        cache.set_listening(true);
                        tracing::info!("auth cache on: listening for token changes");
                    }
                }
                // Another api's ping.
                Ok(Some(n)) if n.payload().starts_with(PING) => {}
                // Every change committed before the marker was heard before it.
                Ok(Some(n)) if n.payload().starts_with(MARKER) => {
                    let marker = n.payload()[MARKER.len()..].parse::<uuid::Uuid>();
                    if let Ok(marker) = marker {
                        acknowledge(db, marker, id).await;
                    }
                }
                Ok(Some(_)) => cache.invalidate(),
                Ok(None) => {
                    tracing::warn!("auth cache off: the listening connection was lost; reconnecting");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "auth cache off: listening failed; reconnecting");
                    return;
                }
            },
            _ = ping.tick() => {
                if heard.elapsed() > DEAF_AFTER {
                    tracing::warn!("auth cache off: the listening connection stopped hearing; reconnecting");
                    return;
                }
                let stmt = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "select pg_notify($1, $2)",
                    [CHANNEL.into(), me.clone().into()],
                );
                if let Err(e) = db.execute_raw(stmt).await {
                    tracing::debug!(error = %e, "auth cache ping not sent");
                }
            }
        }
    }
}

/// Runs `sql` with the listener's id as `$1`.
async fn sql(db: &DatabaseConnection, sql: &str, id: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [id.into()],
    ))
    .await
    .map(|_| ())
}

async fn acknowledge(db: &DatabaseConnection, marker: uuid::Uuid, id: uuid::Uuid) {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "insert into scim.auth_acks (marker, listener) values ($1, $2) on conflict do nothing",
        [marker.into(), id.into()],
    );
    if let Err(e) = db.execute_raw(stmt).await {
        tracing::warn!(error = %e, "auth cache: a change's marker not acknowledged (its author waits up to 5 s)");
    }
}

/// No longer waited for: this api's cache is off.
async fn unregister(db: &DatabaseConnection, id: uuid::Uuid) {
    if let Err(e) = sql(db, "delete from scim.auth_listeners where id = $1", id).await {
        tracing::debug!(error = %e, "auth cache: listener row left to age out");
    }
}

/// After a committed change of tokens or schemas: waits until every api that keeps tokens in
/// memory has heard it (see the module's documentation), at most [`WAIT_AT_MOST`]. Returns how
/// many apis did not answer in time (each has turned its cache off by then, unless its clock
/// or its process stood still).
pub async fn announced(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    let marker = uuid::Uuid::now_v7();
    let sent = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "select now() as sent_at from (select pg_notify($1, $2)) n",
            [CHANNEL.into(), format!("{MARKER}{marker}").into()],
        ))
        .await?
        .ok_or(sea_orm::DbErr::RecordNotFound("now()".into()))?;
    let sent_at: chrono::DateTime<chrono::Utc> = sent.try_get("", "sent_at")?;
    // Listeners registered after the marker was sent turned their caches on after every change
    // before it: they need not answer.
    let waiting = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "select count(*) as n from scim.auth_listeners l
             where l.alive_at > now() - interval '{ALIVE_FOR}' and l.registered_at <= $2
               and not exists (select 1 from scim.auth_acks a where a.marker = $1 and a.listener = l.id)"
        ),
        [marker.into(), sent_at.into()],
    );
    let deadline = Instant::now() + WAIT_AT_MOST;
    let silent = loop {
        let n: i64 = db
            .query_one_raw(waiting.clone())
            .await?
            .map(|r| r.try_get("", "n"))
            .transpose()?
            .unwrap_or(0);
        if n == 0 || Instant::now() >= deadline {
            break n;
        }
        tokio::time::sleep(WAIT_POLL).await;
    };
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "delete from scim.auth_acks where marker = $1",
        [marker.into()],
    ))
    .await?;
    if silent > 0 {
        tracing::warn!(
            apis = silent,
            "a token or schema change was not acknowledged by every api in time"
        );
    }
    Ok(silent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn auth() -> Authenticated {
        Authenticated {
            tenant: Uuid::now_v7(),
            schemas_version: 1,
        }
    }

    fn generation(l: Lookup) -> Option<u64> {
        match l {
            Lookup::Miss(g) => g,
            Lookup::Hit(_) => panic!("a hit"),
        }
    }

    #[test]
    fn nothing_is_cached_or_served_while_not_listening() {
        let c = AuthCache::default();
        let g = generation(c.lookup(b"d"));
        assert_eq!(g, None);
        c.insert(b"d".to_vec(), auth(), g);
        assert!(matches!(c.lookup(b"d"), Lookup::Miss(None)));
    }

    #[test]
    fn a_notification_empties_the_cache_and_refuses_lookups_that_began_before_it() {
        let c = AuthCache::default();
        c.set_listening(true);
        let g = generation(c.lookup(b"d"));
        c.insert(b"d".to_vec(), auth(), g);
        assert!(matches!(c.lookup(b"d"), Lookup::Hit(_)));
        // A lookup starts, a revocation is announced, the lookup's answer comes back.
        let before = generation(c.lookup(b"e"));
        c.invalidate();
        c.insert(b"e".to_vec(), auth(), before);
        assert!(matches!(c.lookup(b"e"), Lookup::Miss(Some(_))));
        assert!(matches!(c.lookup(b"d"), Lookup::Miss(Some(_))));
    }

    #[test]
    fn losing_the_listener_turns_the_cache_off_and_reconnecting_starts_empty() {
        let c = AuthCache::default();
        c.set_listening(true);
        let g = generation(c.lookup(b"d"));
        c.insert(b"d".to_vec(), auth(), g);
        c.set_listening(false);
        assert!(matches!(c.lookup(b"d"), Lookup::Miss(None)));
        c.set_listening(true);
        assert!(matches!(c.lookup(b"d"), Lookup::Miss(Some(_))));
    }
}
