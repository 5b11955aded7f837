//! `scim-api`: the SCIM endpoint, and the tenant/token admin commands.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use scim_api::cli::{Cli, Command, KeysCommand, ServeArgs, TenantCommand, TokenCommand};
use scim_api::{startup, tokens};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // DATABASE_URL and the other secret settings may come from <NAME>_FILE (shared::secrets).
    let cli: Cli = shared::secrets::parse();
    let telemetry = shared::telemetry::init(cli.log.log_format, "scim-api");
    let code = match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "scim-api failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // After the last request has finished, so its spans are among those sent.
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(Box::new(ServeArgs::from_env())),
    };
    match command {
        Command::Serve(args) => serve(&cli.db, &args).await,
        Command::Healthcheck { url } => Ok(shared::healthcheck::check(&url)?),
        Command::Migrate => {
            let db = admin_db(&cli.db).await?;
            db.close().await?;
            print_json(&json!({"migrated": "scim"}))
        }
        Command::Tenant(TenantCommand::Create { name }) => {
            let db = admin_db(&cli.db).await?;
            let issued = tokens::create_tenant(&db, &name).await?;
            print_json(&json!(issued))
        }
        Command::Token(TokenCommand::Rotate { tenant }) => {
            let db = admin_db(&cli.db).await?;
            let issued = tokens::rotate(&db, tenant).await?;
            print_json(&json!(issued))
        }
        Command::Keys(KeysCommand::Rotate) => {
            let db = admin_db(&cli.db).await?;
            let kid = shared::events::keys::rotate(&db).await?;
            tracing::info!(kid = %kid, "SET signing key rotated");
            print_json(&json!({"kid": kid}))
        }
        Command::Token(TokenCommand::Revoke { tenant }) => {
            let db = admin_db(&cli.db).await?;
            let revoked = tokens::revoke(&db, tenant).await?;
            print_json(&json!({"tenant_id": tenant, "revoked": revoked}))
        }
    }
}

async fn admin_db(cfg: &shared::config::DatabaseConfig) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = shared::db::connect(cfg).await.context("connecting to postgres")?;
    shared::migration::migrate_directory_via(&db, cfg)
        .await
        .context("migrating the directory schema")?;
    Ok(db)
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    out.flush()?;
    Ok(())
}

async fn serve(db: &shared::config::DatabaseConfig, args: &ServeArgs) -> anyhow::Result<()> {
    let shutdown = shared::shutdown::on_signal();
    let app = startup::Application::build(db, args, shutdown).await?;
    let addr = app.local_addr()?;
    let metrics = app.metrics_addr().transpose()?;
    let tls = app.serves_tls();
    tracing::info!(%addr, tls, metrics = ?metrics, "scim-api listening");
    // The bound addresses on stdout let tests and scripts use port 0.
    let mut bound = json!({"listening": addr.to_string(), "tls": tls});
    if let Some(m) = metrics {
        bound["metrics"] = m.to_string().into();
    }
    print_json(&bound)?;
    app.run().await
}
