//! `twinctl rollback <env> [--to ID]`: identity, confirmation for approval-gated environments,
//! then the rollback (see [`crate::rollback`]).

use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::error::Result;
use crate::output;
use crate::rollback::{self, Options};

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<()> {
    let mut target = ctx.target(&args.env).await?;
    let phase = ctx.printer.phase("identity");
    let caller = target.aws.caller().await?;
    phase.finish(format!("account {} as {}", caller.account, caller.arn));
    if target.environment.approval {
        let to = args.to.as_deref().unwrap_or("the previous release");
        output::confirm(
            ctx.global.yes,
            &args.env,
            &format!("Roll {} (account {}) back to {to}?", args.env, caller.account),
            "rollback",
        )?;
    }
    let options = Options {
        to: args.to.clone(),
        infra: args.infra,
        force_unlock: args.change.force_unlock,
        invalidation_wait: args.change.invalidation_wait(),
        parallel: args.change.parallel,
    };
    let report = rollback::run(ctx, &mut target, &caller, &options).await?;
    ctx.printer.result(&report, || report.summary());
    Ok(())
}
