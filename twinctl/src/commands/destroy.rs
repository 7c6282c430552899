//! `twinctl destroy <env>`: identity, confirmation (typing the environment's name, or `--yes`;
//! approval-gated environments need `--yes` and `--env-name-confirm <env>`; `--delete-data` asks
//! again), then the steps of [`crate::destroy`]. The JSON document is versioned by
//! `schema_version`.

use crate::cli::DestroyArgs;
use crate::context::Context;
use crate::destroy::{self, Options};
use crate::error::{Error, Result};
use crate::output;

pub async fn run(ctx: &Context, args: &DestroyArgs) -> Result<()> {
    let mut target = ctx.target(&args.env).await?;
    let options = Options {
        delete_data: args.delete_data,
        keep_history: args.keep_history,
        disable_termination_protection: args.disable_termination_protection,
        force_unlock: args.force_unlock,
    };
    let phase = ctx.printer.phase("identity");
    let caller = target.aws.caller().await?;
    phase.finish(format!("account {} as {}", caller.account, caller.arn));
    if destroy::has_work(&target, &options).await? {
        confirm(ctx, args, &target)?;
    }
    let report = destroy::run(ctx, &mut target, &caller, &options).await?;
    ctx.printer.result(&report, || report.summary());
    Ok(())
}

fn confirm(ctx: &Context, args: &DestroyArgs, target: &crate::target::Target) -> Result<()> {
    if let Some(given) = &args.env_name_confirm
        && given != &args.env
    {
        return Err(Error::user(format!("--env-name-confirm {given:?} does not match the environment {:?}", args.env)));
    }
    if target.environment.approval && !(ctx.global.yes && args.env_name_confirm.is_some()) {
        return Err(Error::user_with_hint(
            format!("environment {} is approval-gated: destroying it takes --yes and --env-name-confirm", args.env),
            format!("twinctl destroy {0} --yes --env-name-confirm {0}", args.env),
        ));
    }
    output::confirm_by_typing(
        ctx.global.yes,
        &args.env,
        &format!(
            "This deletes stack {} and every file of the site. Conversations, the key and the secret are kept in {}.",
            target.stack_name, target.data_stack_name
        ),
        &format!("destroying {}", args.env),
    )?;
    if args.delete_data {
        let bucket = target.data_outputs.get("DataMemoryBucketName").map(String::as_str).unwrap_or("(none)");
        output::confirm_by_typing(
            ctx.global.yes,
            "delete data",
            &format!(
                "--delete-data also deletes every conversation in {bucket}, the model's API key secret (no recovery) and \
                 the log groups, and schedules the key's deletion ({} days). This cannot be undone.",
                destroy::KEY_DELETION_DAYS
            ),
            &format!("deleting the data of {}", args.env),
        )?;
    }
    Ok(())
}
