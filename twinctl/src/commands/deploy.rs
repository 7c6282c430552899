//! `twinctl deploy <env>`: the `--bundle-digest` check, identity, confirmation for
//! approval-gated environments, then the deploy steps (see [`crate::deploy`]).

use crate::bundle;
use crate::canary::Settings;
use crate::cli::DeployArgs;
use crate::context::Context;
use crate::deploy::{self, Options, preview};
use crate::error::{Error, Exit, Result};
use crate::output;
use crate::rollback;
use crate::target::Target;
use crate::testplan::report::Outcome;

pub async fn run(ctx: &Context, args: &DeployArgs) -> Result<Exit> {
    // Another bundle than the one built and tested is refused before any AWS call or confirmation
    // (the deploy checks again on the bundle it uploads).
    if let (Some(dir), Some(expected)) = (&args.artifacts, &args.bundle_digest) {
        bundle::expect_digest(dir, &bundle::load(dir)?, expected)?;
    }
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
        bundle_digest: args.bundle_digest.clone(),
        force_unlock: args.change.force_unlock,
        invalidation_wait: args.change.invalidation_wait(),
        parallel: args.change.parallel,
        verify: args.verify.then(|| args.junit.clone()),
    };
    let report = deploy::run(ctx, &mut target, &caller, &options).await?;
    if !report.verification_failed() {
        ctx.printer.result(&report, || report.summary());
        return Ok(Exit::Success);
    }
    // The new release failed its plans: it was recorded as failed; the one current before comes back.
    let mut report = report;
    report.rolled_back = match &report.previous_release {
        Some(previous) => {
            ctx.printer.warn(format!("verification failed: restoring release {previous}"));
            let rollback = rollback::Options {
                to: Some(previous.clone()),
                infra: false,
                force_unlock: false,
                invalidation_wait: args.change.invalidation_wait(),
                parallel: args.change.parallel,
            };
            target.refresh().await?;
            Some(rollback::run(ctx, &mut target, &caller, &rollback).await?)
        }
        None => None,
    };
    let failing: Vec<String> = report
        .verification
        .iter()
        .flat_map(|v| v.steps.iter())
        .filter(|s| matches!(s.outcome, Outcome::Fail | Outcome::Error))
        .map(|s| format!("{} / {}: {}", s.plan, s.step, s.reasons.join("; ")))
        .collect();
    // One document, of the same schema as a deploy that passed: `verification` and `rolled_back` say what happened.
    ctx.printer.result(&report, || report.summary());
    let message = match &report.previous_release {
        Some(previous) => format!(
            "release {} failed verification and was recorded as failed; release {previous} is live again",
            report.release_id
        ),
        None => format!(
            "release {} failed verification and was recorded as failed (not current); this was the first deploy, so \
             there is nothing to roll back to: its version still serves",
            report.release_id
        ),
    };
    // Exit 1 with the one document above on stdout (not a second, error document).
    ctx.printer.warn(message);
    ctx.printer.warn(format!("failing steps: {}", failing.join(" | ")));
    Ok(Exit::User)
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
