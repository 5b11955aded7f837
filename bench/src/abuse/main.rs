//! `scim-abuse`: a noisy tenant does its worst (expensive filters, stalled request bodies, lists
//! of large groups with their members) while a stranger without a token sends invented methods,
//! and a quiet tenant goes on with an IdP's ordinary traffic (a `userName eq` lookup, now and then
//! a create). Reports the quiet tenant's latency alone and under abuse, its errors, the noisy
//! tenant's answers and the api's peak memory; fails if the quiet tenant saw an error, if its p99
//! under abuse passed `--max-p99-ms`, or if the api's peak RSS passed `--max-rss-mib`.
//!
//! `scripts/abuse` builds and runs it against the machine's Postgres and RabbitMQ, in a database
//! and queues of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{Api, TestEnv, okta_user, quantile, seed, urlencode};
use tokio::io::AsyncWriteExt;

#[derive(Parser, Debug)]
#[command(
    name = "scim-abuse",
    about = "A noisy tenant beside a quiet one; the quiet one's latency and the api's memory"
)]
struct Args {
    /// Seconds of abuse (after as long again of the quiet tenant alone, at most 10).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Users of the noisy tenant, which its filters read.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Groups of the noisy tenant, each with up to 10,000 of those users as members.
    #[arg(long, default_value_t = 12)]
    groups: usize,
    /// Fail when the quiet tenant's p99 under abuse passes this.
    #[arg(long, default_value_t = 100)]
    max_p99_ms: u64,
    /// Fail when the api's peak resident memory passes this.
    #[arg(long, default_value_t = 100.0)]
    max_rss_mib: f64,
}

/// What the abusers got back, by kind and status.
type Tally = std::sync::Mutex<BTreeMap<(&'static str, String), usize>>;

fn count(tally: &Tally, kind: &'static str, outcome: String) {
    *tally.lock().expect("tally").entry((kind, outcome)).or_default() += 1;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = TestEnv::new().await;
    let api = env.spawn_api_with(&[("RUST_LOG", "warn")]).await;
    let (noisy_tenant, noisy) = env.create_tenant("noisy");
    let (_, quiet) = env.create_tenant("quiet");
    eprintln!(
        "abuse: seeding {} users and {} groups for the noisy tenant",
        args.users, args.groups
    );
    let db = env.db().await;
    let users = seed::users(&db, noisy_tenant, "noisy", args.users).await;
    let members = &users[..users.len().min(10_000)];
    for i in 0..args.groups {
        seed::group(&db, noisy_tenant, &format!("Large {i}"), members).await;
    }
    let r = env
        .request(
            &api,
            Method::POST,
            "/scim/v2/Users",
            Some(&quiet),
            Some(okta_user("quiet@acme.test", "Q", "Uiet")),
        )
        .await;
    anyhow::ensure!(
        r.status == StatusCode::CREATED,
        "quiet tenant's user: {}",
        r.status
    );

    let quiet_errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let baseline_for = Duration::from_secs(args.duration.min(10));
    let alone = quiet_traffic(&env, &api, &quiet, Instant::now() + baseline_for, &quiet_errors).await;
    let metrics_before = api.scrape(&env.http).await.len();

    let tally: Arc<Tally> = Arc::default();
    let until = Instant::now() + Duration::from_secs(args.duration);
    let stop = Arc::new(AtomicBool::new(false));
    let abusers = abuse(&env, &api, &noisy, until, &tally, &stop);
    let quiet_side = quiet_traffic(&env, &api, &quiet, until, &quiet_errors);
    let ((), mut under_abuse) = tokio::join!(abusers, quiet_side);
    stop.store(true, Ordering::Relaxed);
    let metrics_after = api.scrape(&env.http).await.len();
    let peak_rss = tests::peak_rss_mib(api.pid()).unwrap_or(f64::NAN);

    let mut alone = alone;
    let (a50, a99) = (quantile(&mut alone, 0.5), quantile(&mut alone, 0.99));
    let (u50, u99) = (quantile(&mut under_abuse, 0.5), quantile(&mut under_abuse, 0.99));
    let errors = quiet_errors.lock().expect("errors").clone();
    let noisy_answers: BTreeMap<String, usize> = tally
        .lock()
        .expect("tally")
        .iter()
        .map(|((k, s), n)| (format!("{k} {s}"), *n))
        .collect();
    let report = json!({
        "quiet": {
            "alone": {"requests": alone.len(), "p50_ms": ms(a50), "p99_ms": ms(a99)},
            "under_abuse": {"requests": under_abuse.len(), "p50_ms": ms(u50), "p99_ms": ms(u99)},
            "errors": errors.len(),
        },
        "noisy": noisy_answers,
        "api_peak_rss_mib": (peak_rss * 10.0).round() / 10.0,
        "metrics_bytes": {"before": metrics_before, "after": metrics_after},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "abuse: quiet tenant p99 {:.1} ms alone, {:.1} ms under abuse ({:.1}x), {} errors; api peak RSS {peak_rss:.1} MiB",
        ms(a99),
        ms(u99),
        ms(u99) / ms(a99).max(0.001),
        errors.len()
    );
    anyhow::ensure!(
        errors.is_empty(),
        "the quiet tenant got errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    anyhow::ensure!(
        u99 <= Duration::from_millis(args.max_p99_ms),
        "the quiet tenant's p99 under abuse was {:.1} ms (limit {} ms)",
        ms(u99),
        args.max_p99_ms
    );
    anyhow::ensure!(
        peak_rss <= args.max_rss_mib,
        "the api's peak RSS was {peak_rss:.1} MiB (limit {} MiB)",
        args.max_rss_mib
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An IdP's ordinary traffic, one request at a time: lookups, and every tenth a create.
async fn quiet_traffic(
    env: &TestEnv,
    api: &Api,
    token: &str,
    until: Instant,
    errors: &std::sync::Mutex<Vec<String>>,
) -> Vec<Duration> {
    let lookup = format!(
        "/scim/v2/Users?filter={}",
        urlencode(r#"userName eq "quiet@acme.test""#)
    );
    let mut latencies = Vec::new();
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let at = Instant::now();
        let r = if i.is_multiple_of(10) {
            let body = okta_user(
                &format!("quiet-{}@acme.test", uuid::Uuid::new_v4().simple()),
                "Q",
                "New",
            );
            env.request(api, Method::POST, "/scim/v2/Users", Some(token), Some(body))
                .await
        } else {
            env.request(api, Method::GET, &lookup, Some(token), None).await
        };
        latencies.push(at.elapsed());
        if !r.status.is_success() {
            errors
                .lock()
                .expect("errors")
                .push(format!("{} {}", r.status, r.body));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies
}

/// Every kind of abuse at once until `until`.
async fn abuse(env: &TestEnv, api: &Api, token: &str, until: Instant, tally: &Tally, stop: &AtomicBool) {
    let filter = (0..8)
        .map(|i| format!("emails.value co \"nobody{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let expensive = format!("/scim/v2/Users?filter={}", urlencode(&filter));
    // The noisy tenant's own requests may wait long in its line (its stalled bodies hold most
    // of it until the api times them out): their outcome is counted, whatever it is.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let noisy_get = |path: String| {
        let (http, url) = (http.clone(), format!("{}{path}", api.base));
        async move {
            match http.get(url).bearer_auth(token).send().await {
                Ok(r) => r.status().as_str().to_owned(),
                Err(e) if e.is_timeout() => "no answer in 60 s".to_owned(),
                Err(_) => "connection error".to_owned(),
            }
        }
    };
    let filters = futures_util::stream::iter(0..12).for_each_concurrent(None, |_| async {
        while Instant::now() < until {
            count(tally, "expensive filter", noisy_get(expensive.clone()).await);
        }
    });
    let lists = futures_util::stream::iter(0..4).for_each_concurrent(None, |_| async {
        while Instant::now() < until {
            let outcome = noisy_get("/scim/v2/Groups?attributes=members&count=1000".to_owned()).await;
            count(tally, "member list", outcome);
        }
    });
    let stalls = async {
        // Requests whose body never comes, renewed as the api times them out: 16, so that with
        // the filters and lists the noisy tenant fills its whole line (32) rather than waiting
        // only behind its own stalls.
        futures_util::stream::iter(0..16)
            .for_each_concurrent(None, |_| async {
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    let outcome = stall(&api.base, token, until).await;
                    count(tally, "stalled body", outcome);
                }
            })
            .await;
    };
    let methods = async {
        let mut i = 0u64;
        while Instant::now() < until {
            i += 1;
            let name = format!("X{i:08}{}", "M".repeat(991));
            let Ok(method) = Method::from_bytes(name.as_bytes()) else {
                break;
            };
            let outcome = match env
                .http
                .request(method, format!("{}/scim/v2/Users", api.base))
                .send()
                .await
            {
                Ok(r) => r.status().as_str().to_owned(),
                Err(_) => "no answer".to_owned(),
            };
            count(tally, "invented method", outcome);
            // Paced: the finding was memory, and an unpaced flood from this same machine would
            // measure only how the two cores are shared.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::join!(filters, lists, stalls, methods);
}

/// Sends a request whose body stalls after a few bytes, and waits for the api to give up on it
/// (or for the run to end).
async fn stall(base: &str, token: &str, until: Instant) -> String {
    let addr = base.trim_start_matches("http://");
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return "no connection".to_owned();
    };
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n{{\"userName\":"
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return "refused".to_owned();
    }
    let mut buf = vec![0u8; 4096];
    let left = until.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, tokio::io::AsyncReadExt::read(&mut s, &mut buf)).await {
        Ok(Ok(n)) if n > 12 => String::from_utf8_lossy(&buf[9..12]).into_owned(),
        Ok(_) => "closed".to_owned(),
        Err(_) => "still waiting at the end".to_owned(),
    }
}
