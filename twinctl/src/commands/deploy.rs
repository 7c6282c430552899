//! `twinctl deploy <env>`: identity, confirmation for approval-gated environments, then the
//! deploy steps (see [`crate::deploy`]).

use crate::canary::Settings;
use crate::cli::DeployArgs;
use crate::context::Context;
use crate::deploy::{self, Options, preview};
use crate::error::{Error, Result};
use crate::output;
use crate::target::Target;

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
    let iam = preview::iam_changes(ctx, &target).await?;
    if target.environment.approval && iam.broadens() {
        for grant in &iam.broadened {
            ctx.printer.warn(format!("IAM broadens: {grant}"));
        }
        output::confirm_iam_broadening(args.approve_iam_broadening, &args.env)?;
    } else if iam.broadens() {
        ctx.printer.note(format!(
            "IAM: {} grant(s) added (`twinctl diff {}` lists them)",
            iam.broadened.len(),
            args.env
        ));
    }
    let options = Options {
        canary: canary_settings(&target, args)?,
        artifacts: args.artifacts.clone(),
        force_unlock: args.change.force_unlock,
        invalidation_wait: args.change.invalidation_wait(),
        parallel: args.change.parallel,
    };
    let report = deploy::run(ctx, &mut target, &caller, &options).await?;
    ctx.printer.result(&report, || report.summary());
    Ok(())
}

/// `--canary` (with the configured evidence and probe interval), else the environment's
/// `canary`, unless `--no-canary`.
fn canary_settings(target: &Target, args: &DeployArgs) -> Result<Option<Settings>> {
    if args.no_canary {
        return Ok(None);
    }
    let configured = target.environment.canary.as_ref().map(Settings::from_config).transpose().map_err(Error::user)?;
    let Some(spec) = &args.canary else { return Ok(configured) };
    let mut settings = Settings::parse(spec).map_err(|e| Error::user(format!("--canary: {e}")))?;
    if let Some(configured) = configured {
        settings.min_requests = configured.min_requests;
        settings.probe_every = configured.probe_every;
    }
    Ok(Some(settings))
}
