//! Throttling of admin key guesses: the sign-in form and every `/admin/api` call with a bearer
//! key. Without it a client could try keys as fast as the api answers (200 wrong keys took 2.3 s).
//!
//! Failures are counted in two token buckets, both refilling over one window: one per client (so
//! a guesser is slowed down without locking out the operator elsewhere) and one for all clients
//! together (so that guessing from many addresses is slowed down too). An attempt takes a token
//! from both *before* the key is checked, under one lock, so a burst of parallel requests cannot
//! slip past the limit; a correct key gives the tokens back and forgives the client's earlier
//! failures. With no token left the attempt is not checked at all and gets 429 with
//! `Retry-After`. Signed-in sessions are not throttled: their cookie is a 256-bit secret, not a
//! guess of the key.
//!
//! The client is the peer address, or, only when `ADMIN_TRUST_X_FORWARDED_FOR` is set, the last
//! address of `X-Forwarded-For` (the one the trusted proxy in front of the api appended). IPv6
//! clients are counted per /64, the block one host usually holds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use super::Admin;

/// Clients tracked at once; beyond it, clients whose failures are forgotten (their bucket is
/// full again) are dropped, and if none is, new clients share one bucket. Bounds the memory a
/// guesser with many addresses can make the api hold.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed attempts one client may make in a burst; the bucket refills at this many per
    /// window. 0 turns the per-client limit off.
    pub per_client: u32,
    /// The same for all clients together. 0 turns the total limit off.
    pub total: u32,
    pub window: Duration,
    /// Take the client from the last `X-Forwarded-For` address (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

/// Why an attempt was not even checked, and how long until the next one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Client(Duration),
    Total(Duration),
}

impl Throttled {
    pub fn wait(self) -> Duration {
        match self {
            Throttled::Client(d) | Throttled::Total(d) => d,
        }
    }

    /// Whole seconds for `Retry-After`, never 0.
    pub fn retry_after_secs(self) -> u64 {
        (self.wait().as_secs_f64().ceil() as u64).max(1)
    }
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.retry_after_secs();
        match self {
            Throttled::Client(_) => write!(
                f,
                "too many failed sign-ins from your address; try again in {secs} s"
            ),
            Throttled::Total(_) => write!(
                f,
                "too many failed sign-ins from all addresses (someone may be guessing the admin \
                 token); try again in {secs} s"
            ),
        }
    }
}

/// A client, as counted: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

impl Client {
    /// Used when no address is known (requests that did not come over TCP, as in router tests),
    /// and for clients beyond [`MAX_CLIENTS`].
    const UNKNOWN: Client = Client(IpAddr::V6(Ipv6Addr::UNSPECIFIED));

    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Client(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Client(v4),
        }
    }

    /// The client of a request (see the module docs).
    pub fn from_request(headers: &HeaderMap, extensions: &Extensions, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for.then(|| last_forwarded_for(headers)).flatten();
        forwarded
            .or_else(|| crate::auth::peer(extensions))
            .map_or(Client::UNKNOWN, Client::of)
    }
}

impl FromRequestParts<Admin> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Infallible> {
        let trust = admin.throttle.limits().trust_forwarded_for;
        Ok(Client::from_request(&parts.headers, &parts.extensions, trust))
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) if *self != Client::UNKNOWN => write!(f, "{v6}/64"),
            ip => write!(f, "{ip}"),
        }
    }
}

/// The last address of the last `X-Forwarded-For` line: a proxy appends the address it saw,
/// so anything before it is whatever the client chose to send.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let line = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = line.to_str().ok()?.rsplit(',').next()?.trim();
    // `[2001:db8::1]:4711` and `192.0.2.1:4711` occur too; a bare address is the usual form.
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(capacity: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(capacity),
            refilled: now,
        }
    }

    fn refill(&mut self, capacity: u32, window: Duration, now: Instant) {
        let per_sec = f64::from(capacity) / window.as_secs_f64().max(0.001);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(f64::from(capacity));
        self.refilled = now;
    }

    fn is_full(&self, capacity: u32) -> bool {
        self.tokens >= f64::from(capacity)
    }

    /// How long until one token is back.
    fn wait(&self, capacity: u32, window: Duration) -> Duration {
        let per_sec = f64::from(capacity) / window.as_secs_f64().max(0.001);
        Duration::from_secs_f64(((1.0 - self.tokens) / per_sec).max(0.0))
    }
}

struct State {
    clients: HashMap<Client, Bucket>,
    total: Bucket,
}

pub struct Throttle {
    limits: Limits,
    state: Mutex<State>,
}

/// An attempt allowed to check a key; give it back with [`Throttle::succeeded`] when the key
/// was right.
#[must_use]
pub struct Attempt {
    client: Client,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            limits,
            state: Mutex::new(State {
                clients: HashMap::new(),
                total: Bucket::full(limits.total, now),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes one failure's worth from the client's and the total budget, or says how long to wait.
    pub fn attempt(&self, client: Client) -> Result<Attempt, Throttled> {
        self.attempt_at(client, Instant::now())
    }

    /// The key was right: the attempt was no failure, and the client's earlier ones are forgiven.
    pub fn succeeded(&self, attempt: Attempt) {
        self.succeeded_at(attempt, Instant::now());
    }

    fn attempt_at(&self, client: Client, now: Instant) -> Result<Attempt, Throttled> {
        let Limits {
            per_client,
            total,
            window,
            ..
        } = self.limits;
        // A poisoned lock only means another request panicked mid-update; the counts still hold.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { clients, total: all } = &mut *state;
        let client = if per_client == 0 {
            client
        } else {
            if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
                clients.retain(|_, b| {
                    b.refill(per_client, window, now);
                    !b.is_full(per_client)
                });
            }
            let key = if clients.contains_key(&client) || clients.len() < MAX_CLIENTS {
                client
            } else {
                Client::UNKNOWN
            };
            let bucket = clients
                .entry(key)
                .or_insert_with(|| Bucket::full(per_client, now));
            bucket.refill(per_client, window, now);
            if bucket.tokens < 1.0 {
                return Err(Throttled::Client(bucket.wait(per_client, window)));
            }
            key
        };
        if total > 0 {
            all.refill(total, window, now);
            if all.tokens < 1.0 {
                return Err(Throttled::Total(all.wait(total, window)));
            }
            all.tokens -= 1.0;
        }
        if let Some(b) = clients.get_mut(&client) {
            b.tokens -= 1.0;
        }
        Ok(Attempt { client })
    }

    fn succeeded_at(&self, attempt: Attempt, now: Instant) {
        let Limits { total, window, .. } = self.limits;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Removing the client's bucket forgives its failures: a missing bucket is a full one.
        state.clients.remove(&attempt.client);
        if total > 0 {
            state.total.refill(total, window, now);
            state.total.tokens = (state.total.tokens + 1.0).min(f64::from(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_client: u32, total: u32) -> Limits {
        Limits {
            per_client,
            total,
            window: Duration::from_secs(60),
            trust_forwarded_for: false,
        }
    }

    fn ip(s: &str) -> Client {
        Client::of(s.parse().unwrap())
    }

    #[test]
    fn a_client_gets_its_burst_of_failures_then_waits_for_the_bucket_to_refill() {
        let t = Throttle::new(limits(5, 30));
        let now = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..5 {
            assert!(t.attempt_at(a, now).is_ok());
        }
        let Err(Throttled::Client(wait)) = t.attempt_at(a, now) else {
            panic!("the sixth failure in a row is throttled");
        };
        // Five per minute: one more every 12 s.
        assert_eq!(wait.as_secs(), 12);
        assert!(t.attempt_at(a, now + Duration::from_secs(11)).is_err());
        assert!(t.attempt_at(a, now + Duration::from_secs(12)).is_ok());
        assert!(t.attempt_at(a, now + Duration::from_secs(12)).is_err());
        // Another client is not affected.
        assert!(t.attempt_at(ip("192.0.2.2"), now).is_ok());
    }

    #[test]
    fn all_clients_together_are_capped_too() {
        let t = Throttle::new(limits(5, 30));
        let now = Instant::now();
        for i in 0..30u8 {
            let c = ip(&format!("198.51.100.{i}"));
            assert!(t.attempt_at(c, now).is_ok(), "{i}");
        }
        let err = t.attempt_at(ip("203.0.113.9"), now).err();
        assert!(matches!(err, Some(Throttled::Total(_))), "{err:?}");
        // 30 per minute: one more every 2 s.
        assert!(
            t.attempt_at(ip("203.0.113.9"), now + Duration::from_secs(2))
                .is_ok()
        );
    }

    #[test]
    fn a_right_key_gives_its_attempt_back_and_forgives_the_clients_failures() {
        let t = Throttle::new(limits(5, 6));
        let now = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..4 {
            let _ = t.attempt_at(a, now).unwrap();
        }
        let ok = t.attempt_at(a, now).unwrap();
        t.succeeded_at(ok, now);
        for _ in 0..2 {
            let _ = t.attempt_at(a, now).unwrap();
        }
        // 4 failures + 2 more = 6 of the total; the success took nothing.
        assert!(matches!(t.attempt_at(a, now), Err(Throttled::Total(_))));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let t = Throttle::new(limits(0, 0));
        let now = Instant::now();
        for _ in 0..1000 {
            let _ = t.attempt_at(ip("192.0.2.1"), now).unwrap();
        }
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
        assert_eq!(ip("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_only_its_last_address() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 198.51.100.4".parse().unwrap());
        let mut ext = Extensions::new();
        ext.insert(axum::extract::ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 443))));
        assert_eq!(Client::from_request(&headers, &ext, false), ip("10.0.0.1"));
        assert_eq!(Client::from_request(&headers, &ext, true), ip("198.51.100.4"));
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(Client::from_request(&headers, &ext, true), ip("10.0.0.1"));
        assert_eq!(
            Client::from_request(&HeaderMap::new(), &Extensions::new(), false),
            Client::UNKNOWN
        );
    }

    #[test]
    fn the_number_of_clients_tracked_is_bounded() {
        let t = Throttle::new(limits(5, 0));
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let c = Client::of(IpAddr::from(i.to_be_bytes()));
            let _ = t.attempt_at(c, now);
        }
        let state = t.state.lock().unwrap();
        assert!(state.clients.len() <= MAX_CLIENTS + 1);
    }

    #[test]
    fn messages_say_who_is_throttled_and_for_how_long() {
        let c = Throttled::Client(Duration::from_millis(11_200));
        assert_eq!(c.retry_after_secs(), 12);
        assert!(c.to_string().contains("from your address; try again in 12 s"));
        let t = Throttled::Total(Duration::from_millis(10));
        assert_eq!(t.retry_after_secs(), 1);
        assert!(t.to_string().contains("all addresses"));
    }
}
