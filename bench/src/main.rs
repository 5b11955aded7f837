//! `scim-bench`: an Okta-style import and steady sync against the real api and workers, with
//! the machine's raw Postgres and RabbitMQ ceilings measured in the same run, so every figure is
//! reported as a ratio (this machine is shared and noisy; absolute numbers mean little).
//!
//! Build and run: `scripts/bench` (release build), or `cargo run --release -p bench -- --help`.

mod attributes;
mod ceilings;
mod events;
mod fairness;
mod filter_scale;
mod groups;
mod nesting;
mod roles;
mod stats;
mod visibility;
mod waves;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tests::{TestEnv, peak_rss_mib};

use crate::stats::rate;

#[derive(Parser, Debug)]
#[command(
    name = "scim-bench",
    about = "Okta-style import and sync, measured against raw ceilings"
)]
struct Args {
    /// Users imported per tenant.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Tenants imported in parallel.
    #[arg(long, default_value_t = 2)]
    tenants: usize,
    /// Worker counts to measure the drain rate with.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// Requests (and ceiling operations) in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Offered rate for the lag measurement, requests/s (default: half the import's POST rate).
    #[arg(long)]
    rate: Option<f64>,
    /// Members of the large group built by PATCH batches of 100 (0 skips the group phase).
    #[arg(long, default_value_t = 20_000)]
    group_members: usize,
    /// Users of the five nested groups whose edge changes are timed (0 skips the part).
    #[arg(long, default_value_t = 20_000)]
    nesting_users: usize,
    /// Members of the group whose role mapping is set and changed (0 skips the part).
    #[arg(long, default_value_t = 20_000)]
    role_members: usize,
    /// Users in the tenant the `userName eq` lookup latency is measured in (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    filter_users: usize,
    /// Users of the tenant a mapping change is dry-run and backfilled over (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    mapping_users: usize,
    /// Users the noisy tenant imports (and then pushes as one group's members) while a quiet
    /// tenant's lag is measured, with one lane and with the bulk lane (0 skips the part).
    #[arg(long, default_value_t = 100_000)]
    fairness_users: usize,
    /// The quiet tenant's rate in the fairness part, new users per second.
    #[arg(long, default_value_t = 10.0)]
    quiet_rate: f64,
    /// Measure the ceilings only, print them as JSON and stop (docs/sizing.md).
    #[arg(long)]
    ceilings_only: bool,
    /// Where report.md and report.json go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.users > 0 && args.tenants > 0 && !args.workers.is_empty(),
        "nothing to measure"
    );
    let env = TestEnv::new().await;
    let total = args.users * args.tenants;
    eprintln!(
        "scim-bench: {} tenants x {} users, concurrency {}",
        args.tenants, args.users, args.concurrency
    );

    eprintln!("measuring ceilings...");
    let ceil = ceilings::measure(
        &env.db_url,
        tests::AMQP_URL,
        args.concurrency,
        total.clamp(500, 5000),
    )
    .await?;
    if args.ceilings_only {
        println!("{}", serde_json::to_string(&ceil)?);
        return Ok(());
    }

    let pool = args.concurrency.max(10).to_string();
    // The admin key and local push endpoints are for the events part (streams to a receiver here).
    let events_env = [("EVENTS_ALLOW_INSECURE_ENDPOINTS", "1"), ("RUST_LOG", "warn")];
    let api = env
        .spawn_api_with(&[
            ("DATABASE_MAX_CONNECTIONS", pool.as_str()),
            ("ADMIN_TOKEN", events::ADMIN_KEY),
            events_env[0],
            events_env[1],
        ])
        .await;
    // Idle until a tenant has a push stream (part 2 has none; the events parts have).
    let _deliverer = env.spawn_deliverer_with(&events_env);
    let tenants: Vec<(uuid::Uuid, String)> = (0..args.tenants)
        .map(|t| env.create_tenant(&format!("bench-{t}")))
        .collect();
    let tokens: Vec<String> = tenants.iter().map(|t| t.1.clone()).collect();
    let db = env.db().await;

    // The api's create path alone, as ceiling (a) is measured: no lookups, no workers sharing
    // the machine. In a tenant of its own, discarded afterwards.
    let creates_n = total.clamp(500, 5000);
    eprintln!("creating {creates_n} users with POST alone (no workers running)...");
    let (creates_tenant, creates_token) = env.create_tenant("bench-creates");
    let creates = workload::import(&env, &api, &[creates_token], creates_n, args.concurrency, false).await;
    let creates_rate = rate(creates_n, creates.elapsed);
    workload::discard_tenant(&env, &db, creates_tenant).await;
    eprintln!("creating {creates_n} users with POST alone in a tenant with an event stream...");
    let creates_events_rate =
        events::creates_with_a_stream(&env, &api, &db, creates_n, args.concurrency).await?;

    eprintln!("creating {creates_n} users with POST alone, ten values of a tenant's own extension each...");
    let creates_attrs_rate =
        attributes::creates_with_extension(&env, &api, &db, creates_n, args.concurrency).await?;

    eprintln!("importing {total} users (no workers running)...");
    let import = workload::import(&env, &api, &tokens, args.users, args.concurrency, true).await;
    let post_rate = rate(total, import.elapsed);
    workload::wait_for(
        &db,
        "outbox drained",
        "select (count(*) = 0)::int::int8 as n from scim.outbox where published_at is null",
        1,
        Duration::from_secs(120),
    )
    .await;

    // Creates the product schema (verify migrates it), so drains time applying, not migrating.
    let _ = env.worker_cli(&["verify"]);
    let mut drains = Vec::new();
    let mut worker_rss: f64 = 0.0;
    let worker_env = [("RUST_LOG", "warn"), ("DATABASE_MAX_CONNECTIONS", pool.as_str())];
    for (round, &k) in args.workers.iter().enumerate() {
        if round > 0 {
            workload::refill(&env, &db).await;
        }
        eprintln!("draining with {k} worker(s)...");
        let workers: Vec<_> = (0..k).map(|_| env.spawn_worker_with(&worker_env)).collect();
        // Timed from the first applied change, so process start-up is not counted as drain.
        // Only the imported tenants' users: anything else that reached the queues (an earlier
        // part's tenant) must not end the drain early.
        let count = &format!(
            "select count(*) as n from product.users where tenant_id in ({})",
            tenants
                .iter()
                .map(|(t, _)| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        workload::wait_for(&db, "first apply", count, 1, Duration::from_secs(60)).await;
        let first: i64 = tests::scalar(&db, count, "n").await;
        let took = workload::wait_for(&db, "drain", count, total as i64, Duration::from_secs(600)).await;
        for w in &workers {
            worker_rss = worker_rss.max(peak_rss_mib(w.pid()).unwrap_or(0.0));
        }
        drains.push((k, rate(total - first as usize, took)));
    }

    let (ok, verify) = env.worker_cli(&["verify"]);
    let converged = ok && verify.last().is_some_and(|v| v["differences"] == 0);
    if !converged {
        eprintln!("not converged: scim-worker verify printed {verify:?}");
    }

    // With workers running (two, a small deployment): a burst of new users at full concurrency
    // (the api's POST /Users throughput), a wave of profile updates and one of deactivations on
    // them, then a steady rate of new users at half the burst's throughput.
    let _workers: Vec<_> = (0..2).map(|_| env.spawn_worker_with(&worker_env)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = tokens[0].as_str();
    let target = waves::Target {
        env: &env,
        api: &api,
        db: &db,
        token,
        concurrency: args.concurrency,
    };
    let wave = |name, condition, requests| {
        eprintln!("{name} with 2 workers running...");
        waves::run(&target, name, condition, requests)
    };
    // Waves past a few thousand users say nothing more and would dominate a large run.
    let burst = wave(
        "burst of new users",
        "true",
        waves::creations(total.min(5000), "burst"),
    )
    .await;
    let updates = wave(
        "profile updates",
        "job_title = 'Wave 2'",
        waves::profile_updates(&burst.ids, "Wave 2"),
    )
    .await;
    // The deprovisioning guard's cost: half the burst deactivated with the guard off, the other
    // half with it on and counting every one (a fraction of 1.0, so nothing is held and both
    // halves reach the product at once).
    let half = burst.ids.len() / 2;
    guard_policy(&db, tenants[0].0, false).await?;
    let deactivations = wave(
        "deactivations, guard off",
        "not active",
        waves::deactivations(&burst.ids[..half]),
    )
    .await;
    guard_policy(&db, tenants[0].0, true).await?;
    let guarded = wave(
        "deactivations, guard on",
        "not active",
        waves::deactivations(&burst.ids[half..]),
    )
    .await;
    let waves = [&burst, &updates, &deactivations, &guarded];

    let offered = args.rate.unwrap_or(burst.per_s() / 2.0).max(1.0);
    let steady_count = ((offered * 10.0) as usize).clamp(50, 2000);
    eprintln!("steady rate {offered:.0}/s for {steady_count} users...");
    let (accepted, rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(visibility::watch(
        db.clone(),
        "true".into(),
        rx,
        Duration::from_secs(120),
    ));
    workload::steady(&env, &api, token, offered, steady_count, accepted).await;
    let steady = watcher.await.context("visibility watcher")?;

    let mut event_lags = Vec::new();
    for streams in [1, 10] {
        eprintln!("SET lag at {offered:.0}/s offered with {streams} push stream(s)...");
        event_lags.push(events::lag(&env, &api, streams, offered, steady_count).await?);
    }

    let group = if args.group_members > 0 {
        eprintln!(
            "building a {}-member group by PATCH batches of 100...",
            args.group_members
        );
        let g = groups::measure(&env, &api, &db, tenants[0].0, &tokens[0], args.group_members).await;
        // The workers apply the memberships after the api has answered; the next phase must not
        // run on top of that. Both groups' members plus the probe churned in and out of each.
        let settled = workload::wait_for(
            &db,
            "memberships applied",
            "select count(*) as n from product.membership_versions",
            (args.group_members + 12) as i64,
            Duration::from_secs(600),
        )
        .await;
        Some((g, settled))
    } else {
        None
    };
    let nesting = if args.nesting_users > 0 {
        eprintln!(
            "five nested groups over {} users: one edge at depth 5 against one member...",
            args.nesting_users
        );
        Some(nesting::measure(&env, &api, &db, args.nesting_users).await)
    } else {
        None
    };
    let roles = if args.role_members > 0 {
        eprintln!(
            "a role mapping over a {}-member group, set then changed...",
            args.role_members
        );
        Some(roles::measure(&env, &api, &db, args.role_members).await?)
    } else {
        None
    };
    let filter = if args.filter_users > 0 {
        eprintln!(
            "measuring userName eq lookups in a tenant of {} users...",
            args.filter_users
        );
        Some(filter_scale::measure(&env, &api, &db, args.filter_users, 2000, args.concurrency).await)
    } else {
        None
    };
    let backfill = if args.mapping_users > 0 {
        eprintln!(
            "a mapping change over {} users: dry run, then backfill until the product has it...",
            args.mapping_users
        );
        Some(attributes::backfill(&env, &api, &db, args.mapping_users).await?)
    } else {
        None
    };
    let api_rss = peak_rss_mib(api.pid()).unwrap_or(0.0);
    // Last: its apis run beside the main one, and its floods leave large tenants behind.
    let fairness = if args.fairness_users > 0 {
        fairness::measure(&env, &db, args.fairness_users, args.quiet_rate).await
    } else {
        Vec::new()
    };

    let report = json!({
        "config": {"users_per_tenant": args.users, "tenants": args.tenants, "concurrency": args.concurrency, "workers": args.workers},
        "ceilings": ceil,
        "creates": {
            "users": creates_n,
            "requests_per_s": creates_rate,
            "post_ms": {"p50": creates.post.pct_ms(50.0), "p99": creates.post.pct_ms(99.0)},
            "vs_ceiling_a": creates_rate / ceil.pg_insert_tx_per_s,
        },
        "creates_with_an_event_stream": {
            "requests_per_s": creates_events_rate,
            "vs_ceiling_a": creates_events_rate / ceil.pg_insert_tx_per_s,
            "vs_without": creates_events_rate / creates_rate,
        },
        "creates_with_ten_extension_values": {
            "requests_per_s": creates_attrs_rate,
            "vs_ceiling_a": creates_attrs_rate / ceil.pg_insert_tx_per_s,
            "vs_without": creates_attrs_rate / creates_rate,
        },
        "mapping_backfill": backfill.as_ref().map(|b| json!({
            "users": b.users,
            "dry_run_seconds": b.dry_run.as_secs_f64(),
            "dry_run_users_per_s": rate(b.users, b.dry_run),
            "sent_seconds": b.sent.as_secs_f64(),
            "applied_seconds": b.applied.as_secs_f64(),
            "applied_users_per_s": rate(b.users, b.applied),
        })),
        "event_lag": event_lags.iter().map(|l| json!({
            "streams": l.streams, "offered_per_s": l.offered, "missing": l.missing,
            "lag_ms": {"p50": l.lag.pct_ms(50.0), "p99": l.lag.pct_ms(99.0), "max": l.lag.pct_ms(100.0)},
        })).collect::<Vec<_>>(),
        "import": {
            "users_per_s": post_rate,
            "requests_per_s": rate(import.requests, import.elapsed),
            "get_filter_ms": {"p50": import.get.pct_ms(50.0), "p99": import.get.pct_ms(99.0)},
            "post_ms": {"p50": import.post.pct_ms(50.0), "p99": import.post.pct_ms(99.0)},
            "post_vs_ceiling_a": post_rate / ceil.pg_insert_tx_per_s,
        },
        "drain": drains.iter().map(|(k, r)| json!({"workers": k, "users_per_s": r, "vs_ceiling_c": r / ceil.pg_upsert_per_s})).collect::<Vec<_>>(),
        "waves": waves.iter().map(|w| json!({
            "name": w.name,
            "requests": w.requests,
            "requests_per_s": w.per_s(),
            "vs_ceiling_a": w.per_s() / ceil.pg_insert_tx_per_s,
            "latency_ms": {"p50": w.latency.pct_ms(50.0), "p99": w.latency.pct_ms(99.0)},
            "lag_ms": {"p50": w.lag.pct_ms(50.0), "p99": w.lag.pct_ms(99.0), "max": w.lag.pct_ms(100.0)},
        })).collect::<Vec<_>>(),
        "deprovisioning_guard": {
            "deactivations_per_s_off": deactivations.per_s(),
            "deactivations_per_s_on": guarded.per_s(),
            "on_vs_off": guarded.per_s() / deactivations.per_s(),
            "p99_ms_off": deactivations.latency.pct_ms(99.0),
            "p99_ms_on": guarded.latency.pct_ms(99.0),
        },
        "steady": {"offered_per_s": offered, "users": steady_count,
                   "lag_ms": {"p50": steady.pct_ms(50.0), "p99": steady.pct_ms(99.0), "max": steady.pct_ms(100.0)}},
        "group": group.as_ref().map(|(g, settled)| json!({
            "members": g.members,
            "build_seconds": g.build_s,
            "product_settled_after_last_patch_seconds": settled.as_secs_f64(),
            "one_member_patch_ms": {"big_p50": g.one_member_big.pct_ms(50.0), "big_p99": g.one_member_big.pct_ms(99.0),
                                     "small_p50": g.one_member_small.pct_ms(50.0), "small_p99": g.one_member_small.pct_ms(99.0)},
            "big_vs_small_p50": g.one_member_big.pct_ms(50.0) / g.one_member_small.pct_ms(50.0).max(1e-9),
            "read_without_members_ms": {"p50": g.read_without_members.pct_ms(50.0), "p99": g.read_without_members.pct_ms(99.0)},
        })),
        "roles": roles.as_ref().map(|r| json!({
            "members": r.members,
            "first_mapping_seconds": r.first.as_secs_f64(),
            "changed_mapping_seconds": r.change.as_secs_f64(),
            "users_per_s_changed": r.members as f64 / r.change.as_secs_f64().max(1e-9),
        })),
        "nesting": nesting.as_ref().map(|n| json!({
            "users": n.users,
            "edge_closure_rows": n.edge_rows,
            "edge_change_ms": {"p50": n.edge.pct_ms(50.0), "p99": n.edge.pct_ms(99.0)},
            "member_change_ms": {"p50": n.member.pct_ms(50.0), "p99": n.member.pct_ms(99.0)},
            "closure_rows_per_s_edge": n.edge_rows as f64 / (n.edge.pct_ms(50.0) / 1000.0).max(1e-9),
        })),
        "filter_lookup": filter.as_ref().map(|f| json!({
            "tenant_users": f.users,
            "ms": {"p50": f.lookups.pct_ms(50.0), "p99": f.lookups.pct_ms(99.0)},
            "concurrent": {"in_flight": f.concurrency, "per_s": f.per_s, "vs_ceiling_d": f.per_s / ceil.pg_select_by_key_per_s, "uncached_per_s": f.per_s_uncached},
        })),
        "fairness": fairness.iter().map(|f| json!({
            "lanes": f.lanes, "noise": f.noise, "noisy_changes": f.noisy_changes, "noisy_seconds": f.noisy_seconds,
            "quiet_rate": args.quiet_rate, "quiet_changes": f.quiet.len(),
            "quiet_lag_ms": {"p50": f.quiet.pct_ms(50.0), "p99": f.quiet.pct_ms(99.0), "max": f.quiet.pct_ms(100.0)},
        })).collect::<Vec<_>>(),
        "converged": converged,
        "peak_rss_mib": {"api": api_rss, "worker": worker_rss},
    });

    let md = format!(
        "# scim-bench\n\n{t} tenants x {u} users, concurrency {c}. Ratios are to ceilings measured in the same run.\n\n\
| measure | value | ratio | target |\n|---|---|---|---|\n\
| ceiling (a) pg tx: 1 KiB row + outbox row | {a:.0}/s | | |\n\
| ceiling (b) rabbitmq confirmed publishes | {b:.0}/s | | |\n\
| ceiling (e) the same to a quorum queue | {e:.0}/s | | |\n\
| ceiling (c) pg upsert by key | {cc:.0}/s | | |\n\
| ceiling (d) pg select by key | {cd:.0}/s | | |\n\
| POST /Users alone (no workers) | {cr:.0} req/s, p50 / p99 {c50:.1} / {c99:.1} ms | {cra:.2} of (a) | >= 0.50 |\n\
| POST /Users alone, tenant with an event stream | {ce:.0} req/s | {cea:.2} of (a), {cev:.2}x without | ~1x |\n\
| POST /Users alone, ten values of a tenant's extension | {ca:.0} req/s | {caa:.2} of (a), {cav:.2}x without | |\n\
| import (no workers): GET filter + POST per user | {pr:.0} users/s | {ra:.2} of (a) | |\n\
| GET filter userName eq, p50 / p99 | {g50:.1} / {g99:.1} ms | | |\n\
| POST /Users, p50 / p99 | {p50:.1} / {p99:.1} ms | | |\n\
{drains}\
{waves}\
| deactivations: guard on vs off (same run) | {gr:.2}x req/s, p99 latency {gl:.2}x | | |\n\
| end-to-end lag at {off:.0}/s offered (2 workers), p50 / p99 / max | {l50:.0} / {l99:.0} / {lmax:.0} ms | {lr:.2} of the burst | p99 <= 200 ms |\n\
{event_lags}\
{backfill}\
{group}\
{nesting}\
{roles}\
{filter}\
{fairness}\
| converged (scim-worker verify) | {conv} | | |\n\
| peak RSS api / worker | {ar:.0} / {wr:.0} MiB | | <= 100 MiB |\n",
        t = args.tenants,
        u = args.users,
        c = args.concurrency,
        a = ceil.pg_insert_tx_per_s,
        b = ceil.amqp_confirmed_publish_per_s,
        e = ceil.amqp_quorum_confirmed_publish_per_s,
        cc = ceil.pg_upsert_per_s,
        cd = ceil.pg_select_by_key_per_s,
        cr = creates_rate,
        c50 = creates.post.pct_ms(50.0),
        c99 = creates.post.pct_ms(99.0),
        cra = creates_rate / ceil.pg_insert_tx_per_s,
        ce = creates_events_rate,
        cea = creates_events_rate / ceil.pg_insert_tx_per_s,
        cev = creates_events_rate / creates_rate,
        ca = creates_attrs_rate,
        caa = creates_attrs_rate / ceil.pg_insert_tx_per_s,
        cav = creates_attrs_rate / creates_rate,
        backfill = backfill
            .as_ref()
            .map(|b| format!(
                "| mapping change over {u} users: dry run | {d:.1} s, {dr:.0} users/s | | |\n\
| mapping change: backfill sent / applied by 2 workers | {s:.1} / {a:.1} s, {ar:.0} users/s applied | | |\n",
                u = b.users,
                d = b.dry_run.as_secs_f64(),
                dr = rate(b.users, b.dry_run),
                s = b.sent.as_secs_f64(),
                a = b.applied.as_secs_f64(),
                ar = rate(b.users, b.applied),
            ))
            .unwrap_or_default(),
        event_lags = event_lags
            .iter()
            .map(|l| format!(
                "| SET lag, answer to receiver's 202, {s} push stream(s) at {o:.0}/s, p50 / p99 / max | {a:.0} / {b:.0} / {m:.0} ms{miss} | | {t} |\n",
                s = l.streams,
                o = l.offered,
                a = l.lag.pct_ms(50.0),
                b = l.lag.pct_ms(99.0),
                m = l.lag.pct_ms(100.0),
                miss = if l.missing > 0 { format!(", {} SETs missing", l.missing) } else { String::new() },
                t = if l.streams == 1 { "p99 <= 250 ms" } else { "" },
            ))
            .collect::<String>(),
        pr = post_rate,
        ra = post_rate / ceil.pg_insert_tx_per_s,
        g50 = import.get.pct_ms(50.0),
        g99 = import.get.pct_ms(99.0),
        p50 = import.post.pct_ms(50.0),
        p99 = import.post.pct_ms(99.0),
        drains = drains
            .iter()
            .map(|(k, r)| format!(
                "| drain with {k} worker(s) | {r:.0} users/s | {:.2} of (c) | 4 workers >= 0.60 |\n",
                r / ceil.pg_upsert_per_s
            ))
            .collect::<String>(),
        waves = waves
            .iter()
            .map(|w| {
                format!(
                    "| {name} (2 workers): api | {r:.0} req/s, p50 / p99 {a:.1} / {b:.1} ms | {ra:.2} of (a) | |\n\
| {name}: end-to-end lag p50 / p99 / max | {l50:.0} / {l99:.0} / {lmax:.0} ms | | |\n",
                    name = w.name,
                    r = w.per_s(),
                    a = w.latency.pct_ms(50.0),
                    b = w.latency.pct_ms(99.0),
                    ra = w.per_s() / ceil.pg_insert_tx_per_s,
                    l50 = w.lag.pct_ms(50.0),
                    l99 = w.lag.pct_ms(99.0),
                    lmax = w.lag.pct_ms(100.0),
                )
            })
            .collect::<String>(),
        gr = guarded.per_s() / deactivations.per_s(),
        gl = guarded.latency.pct_ms(99.0) / deactivations.latency.pct_ms(99.0).max(1e-9),
        off = offered,
        lr = offered / burst.per_s(),
        l50 = steady.pct_ms(50.0),
        l99 = steady.pct_ms(99.0),
        lmax = steady.pct_ms(100.0),
        conv = converged,
        fairness = fairness
            .iter()
            .map(|f| {
                let noise = match f.noise {
                    "none" => "alone".to_owned(),
                    "import" => format!("another tenant imports {} users", f.noisy_changes),
                    _ => format!("another tenant pushes a {}-member group", f.noisy_changes),
                };
                let flood = if f.noisy_changes > 0 {
                    format!("flood in the product after {:.0} s", f.noisy_seconds)
                } else {
                    String::new()
                };
                format!(
                    "| fairness, {lanes}: quiet tenant at {r}/s, {noise}: lag p50 / p99 / max | {a:.0} / {b:.0} / {m:.0} ms | {flood} | p99 <= 200 ms |\n",
                    lanes = f.lanes,
                    r = args.quiet_rate,
                    a = f.quiet.pct_ms(50.0),
                    b = f.quiet.pct_ms(99.0),
                    m = f.quiet.pct_ms(100.0),
                )
            })
            .collect::<String>(),
        group = group
            .as_ref()
            .map(|(g, settled)| {
                let (b, sm) = (g.one_member_big.pct_ms(50.0), g.one_member_small.pct_ms(50.0));
                format!(
                    "| build a {n}-member group (PATCH x100) | {bs:.2} s, in the product {st:.2} s later | | |\n\
| one-member PATCH, {n}-member vs 10-member group, p50 | {b:.1} / {sm:.1} ms | {r:.2}x | <= 1.2x |\n\
| GET the {n}-member group with excludedAttributes=members, p50 / p99 | {r50:.1} / {r99:.1} ms | | p99 <= 5 ms |\n",
                    n = g.members,
                    bs = g.build_s,
                    st = settled.as_secs_f64(),
                    r = b / sm.max(1e-9),
                    r50 = g.read_without_members.pct_ms(50.0),
                    r99 = g.read_without_members.pct_ms(99.0),
                )
            })
            .unwrap_or_default(),
        roles = roles
            .as_ref()
            .map(|r| format!(
                "| role mapping over a {n}-member group, admin API to product.user_roles: set / changed | {a:.2} / {b:.2} s | {u:.0} users/s | |\n",
                n = r.members,
                a = r.first.as_secs_f64(),
                b = r.change.as_secs_f64(),
                u = r.members as f64 / r.change.as_secs_f64().max(1e-9),
            ))
            .unwrap_or_default(),
        nesting = nesting
            .as_ref()
            .map(|n| {
                let (e, m) = (n.edge.pct_ms(50.0), n.member.pct_ms(50.0));
                format!(
                    "| nested groups, {u} users over 5 levels: one edge at depth 5 ({rows} closure rows) vs one member at depth 5 (5 rows), api to product, p50 | {e:.1} / {m:.1} ms | {r:.2}x | |\n",
                    u = n.users,
                    rows = n.edge_rows,
                    r = e / m.max(1e-9)
                )
            })
            .unwrap_or_default(),
        filter = filter
            .as_ref()
            .map(|f| format!(
                "| GET filter userName eq in a {n}-user tenant, p50 / p99 | {a:.1} / {b:.1} ms | | p99 <= 5 ms |\n\
| GET filter userName eq in that tenant, {c} in flight | {r:.0} req/s | {rd:.2} of (d) | >= 0.3 |\n\
| the same, each token looked up in Postgres (SCIM_AUTH_CACHE=false) | {ru:.0} req/s | {rud:.2} of (d); cache {rx:.2}x | |\n",
                n = f.users,
                a = f.lookups.pct_ms(50.0),
                b = f.lookups.pct_ms(99.0),
                c = f.concurrency,
                r = f.per_s,
                rd = f.per_s / ceil.pg_select_by_key_per_s,
                ru = f.per_s_uncached,
                rud = f.per_s_uncached / ceil.pg_select_by_key_per_s,
                rx = f.per_s / f.per_s_uncached.max(1e-9)
            ))
            .unwrap_or_default(),
        ar = api_rss,
        wr = worker_rss,
    );
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("report.md"), &md)?;
    println!("{md}");
    eprintln!("written to {}", args.out.display());
    Ok(())
}

/// Sets a tenant's deprovisioning guard straight in the directory: on (counting every
/// deprovisioning, holding none) or off.
async fn guard_policy(
    db: &sea_orm::DatabaseConnection,
    tenant: uuid::Uuid,
    enabled: bool,
) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "insert into scim.deprovisioning_guards (tenant_id, enabled, max_fraction) values ($1, $2, 1.0)
         on conflict (tenant_id) do update set enabled = excluded.enabled, max_fraction = 1.0",
        [tenant.into(), enabled.into()],
    ))
    .await?;
    Ok(())
}
