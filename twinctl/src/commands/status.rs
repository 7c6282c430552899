//! `twinctl status <env>`: the stack's status and outputs, the live version, the last release.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::EnvArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::release::{self, Release};
use crate::{function, stack};

#[derive(Debug, Serialize)]
struct Status {
    environment: String,
    stack: String,
    stack_status: Option<String>,
    outputs: BTreeMap<String, String>,
    live_version: Option<String>,
    last_release: Option<Release>,
}

pub async fn run(ctx: &Context, args: &EnvArgs) -> Result<()> {
    let environment = ctx.config.environment(&args.env)?;
    let aws = ctx.aws(environment).await?;
    let cfn = aws.cloudformation();
    let name = ctx.config.stack_name(&args.env, environment);
    let stack = stack::describe(&cfn, &name).await?;
    let outputs = stack.as_ref().map(stack::outputs).unwrap_or_default();
    let live_version = match outputs.get("FunctionName") {
        Some(function_name) => function::alias_version(&aws.lambda(), function_name).await?,
        None => None,
    };
    let bootstrap = stack::describe(&cfn, &ctx.config.bootstrap_stack_name(environment)).await?;
    let last_release = match bootstrap.as_ref().and_then(|b| stack::outputs(b).remove("ArtifactsBucketName")) {
        Some(bucket) => release::latest(&aws.s3(), &bucket, &args.env).await?,
        None => None,
    };
    let status = Status {
        environment: args.env.clone(),
        stack: name.clone(),
        stack_status: stack.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_owned()),
        outputs,
        live_version,
        last_release,
    };
    ctx.printer.result(&status, || render(&status));
    if stack.is_none() {
        return Err(Error::user_with_hint(
            format!("stack {name} does not exist"),
            format!("deploy it with `twinctl deploy {}`", args.env),
        ));
    }
    Ok(())
}

fn render(status: &Status) -> String {
    let mut text = format!(
        "{} ({}): {}\n",
        status.environment,
        status.stack,
        status.stack_status.as_deref().unwrap_or("not deployed")
    );
    text.push_str(&format!("  live version: {}\n", status.live_version.as_deref().unwrap_or("-")));
    match &status.last_release {
        Some(release) => text.push_str(&format!(
            "  last release: {} {} at {} by {}{}\n",
            release.id,
            release.outcome,
            release.finished_at,
            release.actor,
            release.git_sha.as_deref().map(|sha| format!(" ({})", &sha[..sha.len().min(12)])).unwrap_or_default()
        )),
        None => text.push_str("  last release: -\n"),
    }
    for (key, value) in &status.outputs {
        text.push_str(&format!("  {key}: {value}\n"));
    }
    text
}
