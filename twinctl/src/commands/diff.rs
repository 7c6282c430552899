//! `twinctl diff <env>`: what a deploy would change, changing nothing (see
//! [`crate::deploy::preview`]). Exit 0 when nothing would change, 3 when something would.

use crate::bundle;
use crate::cli::DiffArgs;
use crate::context::Context;
use crate::deploy::preview;
use crate::error::{Exit, Result};

pub async fn run(ctx: &Context, args: &DiffArgs) -> Result<Exit> {
    let target = ctx.target(&args.env).await?;
    target.artifacts_bucket()?;
    let located = bundle::resolve(&ctx.config, &ctx.printer, target.architecture, args.artifacts.as_deref()).await?;
    let (diff, plan) = preview::diff(ctx, &target, &located).await?;
    ctx.printer.result(&diff, || preview::render(&diff, &plan));
    Ok(if diff.changes { Exit::Changes } else { Exit::Success })
}
