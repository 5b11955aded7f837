//! Admission: how many requests run at once, in all and per client. One tenant (or one
//! anonymous client address) may hold only a bounded share of the api, so a tenant flooding slow
//! requests waits in its own line while every other tenant is served.
//!
//! Order matters. A request first takes a slot of its own line (tenant or client address) and
//! only then one of the global slots; waiting for the first holds nothing others need. The
//! request timeout wraps both waits (see `startup::router`), so a request that cannot get in is
//! answered with the timeout instead of hanging.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Whose line a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Line {
    /// An authenticated SCIM request.
    Tenant(Uuid),
    /// Anything else (the admin page, sign-in), by the peer's address.
    Client(IpAddr),
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests processed at once over all lines.
    pub global: usize,
    /// Requests processed at once per line.
    pub per_line: usize,
    /// Filtered list and search queries per tenant at once: each may keep a database connection
    /// busy for seconds, so a tenant gets only a small share of the pool for them.
    pub lists_per_tenant: usize,
}

pub struct Admission {
    global: Arc<Semaphore>,
    lines: Lines,
    lists: Lines,
}

/// A semaphore per key, created on first use and dropped when its last holder leaves, so the
/// map holds only the lines that have requests in flight.
struct Lines {
    size: usize,
    map: Arc<Mutex<HashMap<Line, Arc<Semaphore>>>>,
}

/// Held for as long as the request runs; dropping it frees its slots.
pub struct Ticket {
    _global: Option<OwnedSemaphorePermit>,
    _line: LinePermit,
}

pub struct LinePermit {
    permit: Option<OwnedSemaphorePermit>,
    key: Line,
    sem: Arc<Semaphore>,
    map: Arc<Mutex<HashMap<Line, Arc<Semaphore>>>>,
}

impl Drop for LinePermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        // A poisoned lock only means another request panicked mid-update; the map is usable.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Two references (the map's and ours) and no waiter or holder: the line is idle. New
        // references are only made under this lock, so none can appear in between.
        if Arc::strong_count(&self.sem) == 2 {
            map.remove(&self.key);
        }
    }
}

impl Lines {
    fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            map: Arc::default(),
        }
    }

    async fn enter(&self, key: Line) -> LinePermit {
        let sem = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.size)))
                .clone()
        };
        let mut held = LinePermit {
            permit: None,
            key,
            sem: sem.clone(),
            map: self.map.clone(),
        };
        // The semaphore is never closed, so acquiring only fails if it were; then the request
        // simply goes on without this slot.
        held.permit = sem.acquire_owned().await.ok();
        held
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or_default()
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Self {
            global: Arc::new(Semaphore::new(limits.global.max(1))),
            lines: Lines::new(limits.per_line),
            lists: Lines::new(limits.lists_per_tenant),
        }
    }

    /// Waits for a slot in `line`, then for a global slot.
    pub async fn enter(&self, line: Line) -> Ticket {
        let line = self.lines.enter(line).await;
        let global = self.global.clone().acquire_owned().await.ok();
        Ticket {
            _global: global,
            _line: line,
        }
    }

    /// Waits for one of the tenant's slots for expensive queries.
    pub async fn expensive_query(&self, tenant: Uuid) -> LinePermit {
        self.lists.enter(Line::Tenant(tenant)).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn admission(global: usize, per_line: usize) -> Arc<Admission> {
        Arc::new(Admission::new(Limits {
            global,
            per_line,
            lists_per_tenant: 1,
        }))
    }

    async fn admitted_within(a: &Arc<Admission>, line: Line) -> Option<Ticket> {
        tokio::time::timeout(Duration::from_millis(50), a.enter(line))
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_tenant_at_its_limit_waits_while_another_tenant_gets_in() {
        let a = admission(4, 2);
        let (busy, quiet) = (Line::Tenant(Uuid::now_v7()), Line::Tenant(Uuid::now_v7()));
        let _held = [a.enter(busy).await, a.enter(busy).await];
        assert!(
            admitted_within(&a, busy).await.is_none(),
            "a third request of the busy tenant waits"
        );
        assert!(
            admitted_within(&a, quiet).await.is_some(),
            "another tenant is admitted at once"
        );
    }

    #[tokio::test]
    async fn waiting_in_a_full_line_holds_no_global_slot() {
        let a = admission(3, 2);
        let busy = Line::Tenant(Uuid::now_v7());
        let _held = [a.enter(busy).await, a.enter(busy).await];
        // Many more of the busy tenant's requests queue up...
        let queued: Vec<_> = (0..20)
            .map(|_| {
                let a = a.clone();
                tokio::spawn(async move { a.enter(busy).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // ...and the one global slot left still goes to someone else.
        assert!(
            admitted_within(&a, Line::Client([127, 0, 0, 1].into()))
                .await
                .is_some()
        );
        queued.iter().for_each(|t| t.abort());
    }

    #[tokio::test]
    async fn the_global_limit_holds_over_all_lines() {
        let a = admission(2, 2);
        let _held = [
            a.enter(Line::Tenant(Uuid::now_v7())).await,
            a.enter(Line::Tenant(Uuid::now_v7())).await,
        ];
        assert!(admitted_within(&a, Line::Tenant(Uuid::now_v7())).await.is_none());
    }

    #[tokio::test]
    async fn idle_lines_are_forgotten() {
        let a = admission(8, 2);
        for _ in 0..100 {
            drop(a.enter(Line::Tenant(Uuid::now_v7())).await);
        }
        assert_eq!(a.lines.len(), 0);
        let held = a.enter(Line::Tenant(Uuid::now_v7())).await;
        assert_eq!(a.lines.len(), 1);
        drop(held);
        assert_eq!(a.lines.len(), 0);
    }
}
