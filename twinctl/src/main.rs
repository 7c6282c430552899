//! twinctl: the one binary that builds, deploys, verifies and rolls back the twin stack.
//!
//! This crate owns the command line only; each subcommand will live in its own module.
//! For now it answers `--version` and `--help`: the deploy pipeline lands with its issue.

use clap::Parser;

/// Ships the digital twin: build, deploy, diff, rollback, verify, serve.
#[derive(Debug, Parser)]
#[command(name = "twinctl", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    // Subcommands arrive with the deploy issue; until then `--help` says what exists.
    let mut command = <Cli as clap::CommandFactory>::command();
    let _ = command.print_help();
}
