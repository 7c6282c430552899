//! `twinctl verify <env>`: the environment's test plans run against it ([`crate::verification`]).
//! The result is a table, a versioned JSON document (`--output json`) and, with `--junit FILE`,
//! JUnit XML; exit 1 when a step failed or could not run.

use crate::cli::VerifyArgs;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::verification::{self, Serving};

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<Exit> {
    let target = ctx.target(&args.env).await?;
    let report = verification::verify(ctx, &target, &args.plans, Serving::Running, args.junit.as_deref()).await?;
    ctx.printer.result(&report, || report.table());
    Ok(if report.failed() { Exit::User } else { Exit::Success })
}
