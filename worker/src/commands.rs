//! What each `scim-worker` command does: `run` (consume and apply), `verify`, `reconcile` and the
//! dead-letter commands. `main` parses the command line and calls one of these.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::cli::{DirectoryArgs, DlqCommand, ProductArgs, RunArgs};
use crate::{apply, consumer, http, reconcile, verify};

/// How long a stopping worker may spend finishing in-flight changes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let shutdown = shared::shutdown::on_signal();
    let product = args.databases.product_db();
    let db = shared::db::connect(&product)
        .await
        .context("connecting to the product database")?;
    shared::migration::migrate_product_via(&db, &product)
        .await
        .context("migrating the product schema")?;
    // Stops with the shutdown signal; nothing to wait for.
    let _statistics = shared::statistics::spawn(
        db.clone(),
        <shared::migration::product::Migrator as shared::migration::SchemaMigrator>::SCHEMA,
        args.statistics.clone(),
        shutdown.clone(),
    );
    if let Some(addr) = &args.http_addr {
        http::serve(addr, shutdown.clone()).await?;
    }
    // Completions of asynchronous requests are recorded in the directory.
    let directory = if args.databases.separate() {
        shared::db::connect(&args.databases.directory_db())
            .await
            .context("connecting to the directory database")?
    } else {
        db.clone()
    };
    let applier = apply::Applier {
        db,
        directory: directory.clone(),
        faults: args.faults,
    };
    let worker = consumer::Worker {
        applier,
        directory,
        amqp: args.amqp.clone(),
        prefetch: args.prefetch,
        shutdown: shutdown.clone(),
        faults: args.faults,
    };
    // A stop must not hang on work that cannot finish (a database or broker that stopped
    // answering): past the grace period the process exits, and whatever was not acked yet is
    // delivered again to another worker, where the version check makes it harmless.
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = worker.run() => tracing::info!("scim-worker stopped"),
        () = grace => tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "in-flight work did not finish in time; stopping anyway, unacked changes will be redelivered"
        ),
    }
    Ok(())
}

async fn open_both(
    args: &DirectoryArgs,
) -> anyhow::Result<(sea_orm::DatabaseConnection, sea_orm::DatabaseConnection)> {
    let directory = shared::db::connect(&args.databases.directory_db())
        .await
        .context("connecting to the directory database")?;
    let cfg = args.databases.product_db();
    let product = shared::db::connect(&cfg)
        .await
        .context("connecting to the product database")?;
    shared::migration::migrate_product_via(&product, &cfg)
        .await
        .context("migrating the product schema")?;
    Ok((directory, product))
}

/// Applies the product schema's pending migrations and exits (`run`, `verify` and `reconcile`
/// do the same at start).
pub async fn migrate(args: ProductArgs) -> anyhow::Result<()> {
    let cfg = args.product_db();
    let db = shared::db::connect(&cfg)
        .await
        .context("connecting to the product database")?;
    shared::migration::migrate_product_via(&db, &cfg)
        .await
        .context("migrating the product schema")?;
    db.close().await?;
    println!("{}", json!({"migrated": "product"}));
    Ok(())
}

pub async fn verify(args: DirectoryArgs) -> anyhow::Result<()> {
    let (directory, product) = open_both(&args).await?;
    let report = verify::run(&directory, &product, args.tenant).await?;
    for d in &report.differences {
        println!("{}", json!(d));
    }
    for g in &report.guarded {
        println!("{}", json!(g));
    }
    for r in &report.references {
        println!("{}", json!(r));
    }
    let guarded = |why: shared::domain::deprovisioning::Exception| {
        report.guarded.iter().filter(|g| g.guard == why).count()
    };
    println!(
        "{}",
        json!({
            "tenants": report.tenants,
            "users": report.users,
            "groups": report.groups,
            "memberships": report.memberships,
            "child_groups": report.child_groups,
            "effective_memberships": report.effective_memberships,
            "roles": report.roles,
            "entitlements": report.entitlements,
            "member_references": report.references.len(),
            "differences": report.differences.len(),
            "held": guarded(shared::domain::deprovisioning::Exception::Held),
            "in_grace": guarded(shared::domain::deprovisioning::Exception::Grace),
            "rejected": guarded(shared::domain::deprovisioning::Exception::Rejected),
            "protected": guarded(shared::domain::deprovisioning::Exception::Protected),
        })
    );
    anyhow::ensure!(
        report.differences.is_empty(),
        "{} difference(s) between directory and product",
        report.differences.len()
    );
    Ok(())
}

pub async fn reconcile(args: DirectoryArgs) -> anyhow::Result<()> {
    let (directory, product) = open_both(&args).await?;
    let summary = reconcile::run(&directory, &product, args.tenant).await?;
    println!("{}", json!(summary));
    Ok(())
}

pub async fn dead_letters(cmd: DlqCommand) -> anyhow::Result<()> {
    let amqp = match &cmd {
        DlqCommand::List(a) | DlqCommand::Replay { amqp: a, .. } => a.amqp.clone(),
    };
    let conn = shared::amqp::connect(&amqp, "scim-worker dlq")
        .await
        .context("connecting to rabbitmq")?;
    let ch = conn.create_channel().await?;
    shared::amqp::declare_topology(&ch, &amqp).await?;
    ch.confirm_select(Default::default()).await?;
    match cmd {
        DlqCommand::List(_) => {
            let letters = shared::dlq::list(&ch, &amqp).await?;
            for l in &letters {
                println!("{}", json!(l));
            }
            println!("{}", json!({"dead_letters": letters.len()}));
        }
        DlqCommand::Replay { id, all, .. } => {
            let select = match (all, id) {
                (true, _) => shared::dlq::Select::All,
                (false, Some(id)) => shared::dlq::Select::Id(id),
                (false, None) => anyhow::bail!("give --id ID or --all"),
            };
            let n = shared::dlq::replay(&ch, &amqp, &select).await?;
            println!("{}", json!({"replayed": n}));
        }
    }
    shared::amqp::goodbye("close connection", conn.close(200, "bye".into())).await;
    Ok(())
}
