//! The `twinctl` binary: parse, run, exit with the command's status (0 ok, 1 user error,
//! 2 internal or AWS error, 3 `diff` found changes).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = twinctl::cli::Cli::parse();
    let exit = twinctl::run(cli).await;
    std::process::ExitCode::from(exit as u8)
}
