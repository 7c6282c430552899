//! twinctl: builds, deploys, verifies and rolls back the digital twin stack.
//!
//! `main.rs` parses the command line and calls [`run`]; each subcommand lives in its own
//! module under `commands/` with one entry point taking the [`context::Context`]. Commands are
//! thin and never import each other: they resolve a [`target::Target`] and call the library
//! below them — `aws/` (clients, SDK error context, per-service helpers), `bundle/`,
//! `artifacts`, `deploy/` (the deploy steps, the site plan, the diff), `rollback`, `lock`,
//! `release`, `retention`.

pub mod artifacts;
pub mod aws;
pub mod bundle;
pub mod canary;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod cost;
pub mod deploy;
pub mod destroy;
pub mod drift;
pub mod error;
pub mod iam_diff;
pub mod local_function;
pub mod local_serve;
pub mod local_tls;
pub mod lock;
pub mod logs;
pub mod output;
pub mod provenance;
pub mod reference;
pub mod release;
pub mod retention;
pub mod rollback;
pub mod serve_state;
pub mod target;
pub mod testplan;
pub mod verification;

use cli::{Cli, Command};
use context::Context;
use error::{Exit, Result};

/// Runs a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> Exit {
    let printer = output::Printer::new(cli.global.output, cli.global.quiet, cli.global.verbose);
    if let Command::Completions(args) = &cli.command {
        commands::completions::run(args);
        return Exit::Success;
    }
    let result = async {
        let config = config::Config::load(&cli.global.config)?;
        let ctx = Context { config, printer: printer.clone(), global: cli.global };
        dispatch(&ctx, &cli.command).await
    }
    .await;
    match result {
        Ok(exit) => exit,
        Err(error) => {
            report(&printer, &error);
            error.exit()
        }
    }
}

async fn dispatch(ctx: &Context, command: &Command) -> Result<Exit> {
    match command {
        Command::Build(args) => commands::build::run(ctx, args).await.map(|()| Exit::Success),
        Command::Bootstrap(args) => commands::bootstrap::run(ctx, args).await.map(|()| Exit::Success),
        Command::Deploy(args) => commands::deploy::run(ctx, args).await,
        Command::Status(args) => commands::status::run(ctx, args).await,
        Command::Releases(args) => commands::releases::run(ctx, args).await.map(|()| Exit::Success),
        Command::Rollback(args) => commands::rollback::run(ctx, args).await.map(|()| Exit::Success),
        Command::Cost(args) => commands::cost::run(ctx, args).await.map(|()| Exit::Success),
        Command::Serve(args) => commands::serve::run(ctx, args).await.map(|()| Exit::Success),
        Command::Secrets(args) => commands::secrets::run(ctx, args).await.map(|()| Exit::Success),
        Command::Logs(args) => commands::logs::run(ctx, args).await.map(|()| Exit::Success),
        Command::Verify(args) => commands::verify::run(ctx, args).await,
        Command::Testplans(args) => commands::testplans::run(ctx, args).await,
        Command::Destroy(args) => commands::destroy::run(ctx, args).await.map(|()| Exit::Success),
        Command::Diff(args) => commands::diff::run(ctx, args).await,
        Command::Completions(_) => Ok(Exit::Success),
    }
}

/// Errors go to stderr as text; with `--output json` the same facts also go to stdout.
fn report(printer: &output::Printer, error: &error::Error) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
    if printer.json() {
        let body = serde_json::json!({
            "error": { "kind": error.kind(), "message": error.to_string(), "hint": error.hint() }
        });
        printer.result(&body, String::new);
    }
}
