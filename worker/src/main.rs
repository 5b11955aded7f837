//! `scim-worker`: applies SCIM change messages from RabbitMQ to the product database.

use std::process::ExitCode;

use scim_worker::cli::{Cli, Command, RunArgs};
use scim_worker::commands::{dead_letters, migrate, reconcile, run, verify};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // DATABASE_URL and the other secret settings may come from <NAME>_FILE (shared::secrets).
    let cli: Cli = shared::secrets::parse();
    let telemetry = shared::telemetry::init(cli.log.log_format, "scim-worker");
    let result = match cli.command {
        Some(Command::Healthcheck { url }) => shared::healthcheck::check(&url).map_err(Into::into),
        Some(Command::Run(args)) => run(*args).await,
        Some(Command::Verify(args)) => verify(args).await,
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Reconcile(args)) => reconcile(args).await,
        Some(Command::Dlq(cmd)) => dead_letters(cmd).await,
        Some(Command::Deliver(args)) => scim_worker::deliver::run(*args, shared::shutdown::on_signal()).await,
        None => run(RunArgs::from_env()).await,
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "scim-worker failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // After the last message has been handled, so its spans are among those sent.
    telemetry.shutdown();
    code
}
