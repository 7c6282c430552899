//! `twinctl status <env>`: the stack's status and outputs, the live version, the release now
//! current and the newest release (which differs when the last deploy failed).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::lambda;
use crate::cli::EnvArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::release::{self, Release};

#[derive(Debug, Serialize)]
struct Status {
    environment: String,
    stack: String,
    stack_status: Option<String>,
    outputs: BTreeMap<String, String>,
    live_version: Option<String>,
    /// The alias's routing; weights mean a canary is running, or was interrupted.
    alias_routing: Option<lambda::AliasRouting>,
    current_release: Option<Release>,
    last_release: Option<Release>,
}

pub async fn run(ctx: &Context, args: &EnvArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    let (current_release, last_release) = match &target.artifacts_bucket {
        Some(bucket) => {
            let s3 = target.aws.s3();
            (release::current(&s3, bucket, &args.env).await?, release::latest(&s3, bucket, &args.env).await?)
        }
        None => (None, None),
    };
    let alias_routing = match target.outputs.get("FunctionName") {
        Some(function) => lambda::alias_routing(&target.aws.lambda(), function).await?,
        None => None,
    };
    let status = Status {
        alias_routing,
        environment: args.env.clone(),
        stack: target.stack_name.clone(),
        stack_status: target.stack.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_owned()),
        outputs: target.outputs.clone(),
        live_version: target.live_version.clone(),
        current_release,
        last_release,
    };
    ctx.printer.result(&status, || render(&status));
    if target.stack.is_none() {
        return Err(Error::user_with_hint(
            format!("stack {} does not exist", target.stack_name),
            format!("deploy it with `twinctl deploy {}`", args.env),
        ));
    }
    Ok(())
}

fn describe(release: &Option<Release>) -> String {
    match release {
        Some(release) => format!(
            "{} {} at {} by {}{}",
            release.id,
            release.outcome.as_str(),
            release.finished_at,
            release.actor,
            release.git_sha.as_deref().map(|sha| format!(" ({})", &sha[..sha.len().min(12)])).unwrap_or_default()
        ),
        None => "-".to_owned(),
    }
}

fn render(status: &Status) -> String {
    let mut text = format!(
        "{} ({}): {}\n",
        status.environment,
        status.stack,
        status.stack_status.as_deref().unwrap_or("not deployed")
    );
    text.push_str(&format!("  live version:    {}\n", status.live_version.as_deref().unwrap_or("-")));
    if let Some(routing) = status.alias_routing.as_ref().filter(|r| !r.weights.is_empty()) {
        for (version, weight) in &routing.weights {
            text.push_str(&format!(
                "  canary:          version {version} gets {:.0}% of the traffic (a canary runs, or was interrupted)\n",
                weight * 100.0
            ));
        }
    }
    text.push_str(&format!("  current release: {}\n", describe(&status.current_release)));
    if status.last_release.as_ref().map(|r| &r.id) != status.current_release.as_ref().map(|r| &r.id) {
        text.push_str(&format!("  last release:    {}\n", describe(&status.last_release)));
    }
    for (key, value) in &status.outputs {
        text.push_str(&format!("  {key}: {value}\n"));
    }
    text
}
