//! `scim-chaos`: an Okta-like load through the real api and workers while RabbitMQ and Postgres
//! are stopped and started, processes (api, worker, event deliverer) are killed with SIGKILL, and
//! the tenant's event receiver fails at random and goes away; then checks that nothing was lost:
//! every accepted write is in the directory, the product matches the directory (`scim-worker
//! verify`), nothing was dead-lettered, and every change event reached the receiver, gapless and
//! in order per resource.
//!
//! `scripts/chaos` runs it against a private Postgres cluster and RabbitMQ node, so stopping
//! them never disturbs the machine's own services; `scripts/chaos --cluster` against a private
//! 3-node RabbitMQ cluster instead, whose nodes it stops ([`cluster`]); see docs/chaos.md.

mod check;
mod cluster;
mod events;
mod faults;
mod guard;
mod load;
mod observe;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tests::{Services, TestEnv};

use crate::faults::{Commands, Procs};
use crate::observe::Observer;

#[derive(Parser, Debug)]
#[command(
    name = "scim-chaos",
    about = "Load with injected faults, then proof that nothing was lost"
)]
pub struct Args {
    /// Length of the load phase, seconds; the faults are spread over it.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Concurrent IdP clients, each with its own users and group.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Workers running at any time.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// How long each broker and database outage lasts, seconds.
    #[arg(long, default_value_t = 8)]
    outage: u64,
    /// Postgres server URL without a database.
    #[arg(
        long,
        env = "CHAOS_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres: String,
    #[arg(long, env = "CHAOS_AMQP_URL", default_value = tests::AMQP_URL)]
    amqp_url: String,
    /// Shell commands that stop and start the broker and the database; a fault whose commands
    /// are missing is skipped (and reported so).
    #[arg(long, env = "CHAOS_BROKER_STOP")]
    broker_stop: Option<String>,
    #[arg(long, env = "CHAOS_BROKER_START")]
    broker_start: Option<String>,
    #[arg(long, env = "CHAOS_POSTGRES_STOP")]
    postgres_stop: Option<String>,
    #[arg(long, env = "CHAOS_POSTGRES_START")]
    postgres_start: Option<String>,
    /// Cluster mode: the Erlang names of a RabbitMQ cluster's nodes (comma-separated), which
    /// CHAOS_AMQP_URL names too. The faults are then outages of the change queue's leading node
    /// and of another node, instead of the single-node timeline.
    #[arg(long, env = "CHAOS_CLUSTER_NODES")]
    cluster_nodes: Option<String>,
    /// How long the event receiver is away, seconds (it answers 500 at random besides).
    #[arg(long, default_value_t = 30)]
    receiver_down: u64,
    /// The share of SETs the event receiver answers with 500.
    #[arg(long, default_value_t = 0.02)]
    receiver_failure_rate: f64,
    /// Seed of the workload's choices.
    #[arg(long, env = "CHAOS_SEED")]
    seed: Option<u64>,
    /// Where report.json goes.
    #[arg(long, default_value = "target/chaos")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.clients > 0 && args.workers > 0, "need clients and workers");
    let seed = args.seed.unwrap_or_else(rand::random);
    let env = TestEnv::on(Services {
        postgres: args.postgres.clone(),
        amqp_url: args.amqp_url.clone(),
    })
    .await;
    let (tenant, token) = env.create_tenant("chaos");
    let api = env.spawn_api_with(&events::API_ENV).await;
    let base = api.base.clone();
    let metrics = api.metrics.clone();
    let receiver = events::Receiver::start(args.receiver_failure_rate, seed).await?;
    events::stream(&env, &base, tenant, &receiver).await?;
    guard::tighten(&base, tenant).await?;
    let procs = Arc::new(Procs::start(&env, api, args.workers));
    let cluster = args
        .cluster_nodes
        .as_deref()
        .map(|nodes| cluster::Cluster::new(nodes, &env.queue))
        .transpose()?;
    eprintln!(
        "chaos: seed {seed}, {} clients, {} workers, {} s of load, api {base}, tenant {tenant}",
        args.clients, args.workers, args.duration
    );

    let observer = Arc::new(Observer::new(&base, metrics.as_deref()));
    let started = Instant::now();
    let load_ends = started + Duration::from_secs(args.duration);
    let monitor = tokio::spawn(observe::monitor(observer.clone()));
    let commands = Commands {
        broker_stop: args.broker_stop.clone(),
        broker_start: args.broker_start.clone(),
        postgres_stop: args.postgres_stop.clone(),
        postgres_start: args.postgres_start.clone(),
    };
    let timeline = async {
        let (duration, outage) = (
            Duration::from_secs(args.duration),
            Duration::from_secs(args.outage),
        );
        match &cluster {
            Some(c) => cluster::run(c, &observer, duration, outage)
                .await
                .map(|(windows, report)| (windows, Some(report))),
            None => faults::run(&env, procs.clone(), observer.clone(), commands, duration, outage)
                .await
                .map(|windows| (windows, None)),
        }
    };
    let clients = load::run(&base, &token, args.clients, seed, load_ends, observer.clone());
    let receiver_outage = faults::receiver_outage(
        receiver.clone(),
        Duration::from_secs(args.duration),
        Duration::from_secs(args.receiver_down),
    );
    let (windows, models, receiver_outage) = tokio::join!(timeline, clients, receiver_outage);
    let (windows, mut cluster_report) = windows?;
    if let Some(report) = &mut cluster_report {
        report.moves = procs.node_moves();
    }
    receiver_outage?;
    let load_done = Instant::now();
    monitor.abort();

    let guard = guard::approve(&base, tenant).await?;
    let directory = check::directory(&base, &token, &models).await?;
    let product = check::product(&env, Duration::from_secs(180)).await;
    let dead_letters = check::dead_letters(&env);
    // The deliverer backs off up to a minute while the receiver is away or failing.
    let events = events::check(&env, tenant, &receiver, Duration::from_secs(240)).await?;
    let converged_after = load_done.elapsed();
    drop(procs);

    let tally = observer.tally(None);
    let faults_injected = windows.iter().filter(|w| w.injected).count();
    let differences = directory.differences + product.differences;
    let figure = format!(
        "chaos: seed {seed}: {} requests sent, {} accepted, errors {}, faults injected {} ({}), \
         differences {} (directory vs accepted writes {}, product vs directory {}), dead letters {}, \
         changes abandoned by the IdP {}, converged {:.1} s after the load",
        tally.sent,
        tally.accepted,
        tally.errors_line(),
        faults_injected,
        windows
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        differences,
        directory.differences,
        product.differences,
        dead_letters,
        directory.abandoned,
        converged_after.as_secs_f64(),
    );
    let figure = match &cluster_report {
        Some(report) => format!("cluster {figure}; {}", report.line()),
        None => figure,
    };
    let nested = format!(
        "nested groups: {} child groups, {} effective memberships verified",
        product.summary["child_groups"], product.summary["effective_memberships"]
    );
    let figure = format!("{figure}; {nested}; {}; {}", events.line(), guard.line());
    for w in &windows {
        println!("{}", w.describe(&observer));
    }
    for d in &events.details {
        eprintln!("chaos: events: {d}");
    }
    println!("{figure}");

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let report = json!({
        "seed": seed,
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "requests": tally.json(),
        "faults": windows.iter().map(|w| w.json(&observer)).collect::<Vec<_>>(),
        "directory": {"checked": directory.checked, "differences": directory.differences, "abandoned": directory.abandoned, "details": directory.details},
        "product": {"differences": product.differences, "verify": product.summary},
        "dead_letters": dead_letters,
        "events": events.json(),
        "guard": guard.json(),
        "cluster": cluster_report.as_ref().map(cluster::ClusterReport::json),
        "converged_after_s": converged_after.as_secs_f64(),
        "figure": figure,
    });
    let path = args.out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    eprintln!("chaos: report written to {}", path.display());

    if let Some(report) = &cluster_report {
        anyhow::ensure!(
            tally.errors_other_than_503() == 0 && report.passed(),
            "cluster chaos run failed: errors {} (only 503 allowed); {}",
            tally.errors_line(),
            report.line()
        );
    }
    anyhow::ensure!(
        differences == 0
            && dead_letters == 0
            && directory.abandoned == 0
            && tally.server_errors() == 0
            && !events.failed(),
        "chaos run failed: {differences} difference(s), {dead_letters} dead letter(s), {} abandoned change(s), \
         {} 5xx other than 503, events: {} missing, {} out of order, {} unnumbered",
        directory.abandoned,
        tally.server_errors(),
        events.missing,
        events.out_of_order,
        events.unnumbered,
    );
    Ok(())
}
