//! `twinctl bootstrap <env>`: deploys `templates/bootstrap.yaml` (the artifacts bucket and the
//! optional CI role) to the environment's account and region. Safe to rerun: an unchanged
//! stack is a no-op.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts;
use crate::aws::stack::{self, TemplateSource, Waiting};
use crate::cli::EnvArgs;
use crate::context::Context;
use crate::error::Result;

#[derive(Debug, Serialize)]
struct BootstrapReport {
    stack: String,
    account: String,
    region: String,
    changed: bool,
    outputs: BTreeMap<String, String>,
}

pub async fn run(ctx: &Context, args: &EnvArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    let caller = target.aws.caller().await?;
    let name = &target.bootstrap_stack_name;
    let template_path = ctx.config.resolve(&ctx.config.templates.bootstrap);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("failed to read {}", template_path.display()))?;
    let parameters = BTreeMap::from([("ProjectName".to_owned(), ctx.config.project.clone())]);

    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    let phase = ctx.printer.phase("bootstrap");
    stack::remove_dead(&cfn, name, &waiting, &phase).await?;
    // The artifacts bucket does not exist before this stack: the (small) template goes inline.
    let plan = stack::plan(&cfn, name, &TemplateSource::Body(template), &parameters, &waiting, &phase).await?;
    for line in stack::render(&plan).lines() {
        phase.println(line);
    }
    let settled = stack::execute(&cfn, &plan, &waiting, &phase).await?;
    phase.finish(if plan.is_empty() { "no changes" } else { "deployed" });
    let outputs = stack::outputs(&settled);
    let bucket = artifacts::bucket_from_outputs(name, &outputs)?;
    let report = BootstrapReport {
        stack: name.clone(),
        account: caller.account,
        region: target.aws.region.clone(),
        changed: !plan.is_empty(),
        outputs,
    };
    ctx.printer.result(&report, || {
        format!("{} in {} ({}): artifacts bucket {bucket}", report.stack, report.account, report.region)
    });
    Ok(())
}
