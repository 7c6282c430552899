//! `twinctl deploy <env>`: identity, confirmation for approval-gated environments, then the
//! deploy steps (see [`crate::deploy`]).

use std::time::Duration;

use crate::cli::DeployArgs;
use crate::context::Context;
use crate::deploy::{self, Options};
use crate::error::Result;
use crate::output;

pub async fn run(ctx: &Context, args: &DeployArgs) -> Result<()> {
    let mut target = ctx.target(&args.env).await?;
    let phase = ctx.printer.phase("identity");
    let caller = target.aws.caller().await?;
    phase.finish(format!("account {} as {}", caller.account, caller.arn));
    if target.environment.approval {
        output::confirm(
            ctx.global.yes,
            &args.env,
            &format!("Deploy to {} (account {})?", args.env, caller.account),
            "deploy",
        )?;
    }
    let options = Options {
        artifacts: args.artifacts.clone(),
        force_unlock: args.force_unlock,
        invalidation_wait: if args.no_wait { Duration::ZERO } else { Duration::from_secs(args.invalidation_wait) },
        parallel: args.parallel,
    };
    let report = deploy::run(ctx, &mut target, &caller, &options).await?;
    ctx.printer.result(&report, || report.summary());
    Ok(())
}
