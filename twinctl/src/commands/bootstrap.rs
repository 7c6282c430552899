//! `twinctl bootstrap <env>`: deploys `templates/bootstrap.yaml` (the artifacts bucket and the
//! optional CI role) to the environment's account and region. Safe to rerun: an unchanged
//! stack is a no-op.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::EnvArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::stack;

#[derive(Debug, Serialize)]
struct BootstrapReport {
    stack: String,
    account: String,
    region: String,
    changed: bool,
    outputs: BTreeMap<String, String>,
}

pub async fn run(ctx: &Context, args: &EnvArgs) -> Result<()> {
    let environment = ctx.config.environment(&args.env)?;
    let aws = ctx.aws(environment).await?;
    let caller = ctx.caller(&aws).await?;
    let name = ctx.config.bootstrap_stack_name(environment);
    let template_path = ctx.config.resolve(&ctx.config.templates.bootstrap);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("failed to read {}", template_path.display()))?;
    let parameters = BTreeMap::from([("ProjectName".to_owned(), ctx.config.project.clone())]);

    let cfn = aws.cloudformation();
    let phase = ctx.printer.phase("bootstrap");
    let plan = stack::plan(&cfn, &name, &template, &parameters, &phase).await?;
    for line in stack::render(&plan).lines() {
        phase.println(line);
    }
    let settled = stack::execute(&cfn, &plan, &phase).await?;
    phase.finish(if plan.is_empty() { "no changes" } else { "deployed" });
    let outputs = stack::outputs(&settled);
    if !outputs.contains_key("ArtifactsBucketName") {
        return Err(Error::Internal(anyhow::anyhow!("stack {name} has no ArtifactsBucketName output")));
    }
    let report = BootstrapReport {
        stack: name,
        account: caller.account,
        region: aws.region,
        changed: !plan.is_empty(),
        outputs,
    };
    ctx.printer.result(&report, || {
        format!(
            "{} in {} ({}): artifacts bucket {}",
            report.stack,
            report.account,
            report.region,
            report.outputs.get("ArtifactsBucketName").map(String::as_str).unwrap_or("?")
        )
    });
    Ok(())
}
