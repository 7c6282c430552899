//! One module per subcommand, each with one entry point `run(ctx, args)`.

pub mod bootstrap;
pub mod build;
pub mod completions;
pub mod cost;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod logs;
pub mod releases;
pub mod rollback;
pub mod secrets;
pub mod serve;
pub mod status;
pub mod testplans;
pub mod verify;
