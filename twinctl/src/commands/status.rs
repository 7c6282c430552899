//! `twinctl status <env>`: the stack's status and outputs, the live version, the release now
//! current and the newest release (which differs when the last deploy failed), and drift from
//! the current release ([`crate::drift`]); `--check` exits 3 when anything drifted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::lambda;
use crate::cli::StatusArgs;
use crate::context::Context;
use crate::drift::{self, Drift};
use crate::error::{Exit, Result};
use crate::release::{self, Release};

#[derive(Debug, Serialize)]
struct Status {
    environment: String,
    stack: String,
    stack_status: Option<String>,
    outputs: BTreeMap<String, String>,
    /// The environment's data (memory bucket, key, secret, log groups), which outlives the stack.
    data_stack: String,
    data_stack_status: Option<String>,
    live_version: Option<String>,
    /// The alias's routing; weights mean a canary is running, or was interrupted.
    alias_routing: Option<lambda::AliasRouting>,
    current_release: Option<Release>,
    last_release: Option<Release>,
    /// What differs from the current release; None before the first release.
    drift: Option<Drift>,
}

pub async fn run(ctx: &Context, args: &StatusArgs) -> Result<Exit> {
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
    let mut drift = match &current_release {
        Some(release) => Some(drift::detect(&target, release, alias_routing.as_ref()).await?),
        None => None,
    };
    if args.drift && target.stack.is_some() {
        let stack = drift::detect_stack(&target, &target.stack_name).await?;
        let report = drift.get_or_insert_with(Drift::default);
        report.drifted |= stack.status == "drifted";
        report.stack = stack;
    }
    let status = Status {
        drift,
        alias_routing,
        environment: args.env.clone(),
        stack: target.stack_name.clone(),
        stack_status: target.stack.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_owned()),
        outputs: target.outputs.clone(),
        data_stack: target.data_stack_name.clone(),
        data_stack_status: target.data_stack.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_owned()),
        live_version: target.live_version.clone(),
        current_release,
        last_release,
    };
    ctx.printer.result(&status, || render(&status));
    // Exit 1 without a second document on stdout: the status above is the one result (it says
    // whether the data stack is still there, e.g. after `destroy`).
    if target.stack.is_none() {
        ctx.printer
            .warn(format!("stack {} does not exist; deploy it with `twinctl deploy {}`", target.stack_name, args.env));
        return Ok(Exit::User);
    }
    let drifted = status.drift.as_ref().is_some_and(|d| d.drifted);
    Ok(if args.check && drifted { Exit::Changes } else { Exit::Success })
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
    text.push_str(&format!(
        "  data:            {} ({})\n",
        status.data_stack,
        status.data_stack_status.as_deref().unwrap_or("none")
    ));
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
    if let Some(drift) = &status.drift {
        text.push_str(&render_drift(drift));
    }
    for (key, value) in &status.outputs {
        text.push_str(&format!("  {key}: {value}\n"));
    }
    text
}

fn render_drift(drift: &Drift) -> String {
    if !drift.drifted {
        let stack = match drift.stack.status.as_str() {
            "not_checked" => " (stack resources not checked: --drift)".to_owned(),
            "in_sync" => String::new(),
            other => format!(
                " (stack resources: {other}{})",
                drift.stack.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
        };
        return format!("  drift:           none{stack}\n");
    }
    let mut text = "  drift:           DRIFTED from the current release\n".to_owned();
    if let Some(alias) = &drift.alias {
        text.push_str(&format!(
            "    alias live serves version {} (the release recorded {})\n",
            alias.live_version, alias.recorded_version
        ));
    }
    for (version, weight) in &drift.routing_weights {
        text.push_str(&format!("    alias live sends {:.0}% to version {version}\n", weight * 100.0));
    }
    for (what, keys) in
        [("added", &drift.site.added), ("changed", &drift.site.changed), ("missing", &drift.site.missing)]
    {
        if !keys.is_empty() {
            text.push_str(&format!("    site {what}: {}\n", keys.join(", ")));
        }
    }
    if let Some(persona) = &drift.persona {
        text.push_str(&format!(
            "    persona {} is version {} (the release recorded {})\n",
            persona.key,
            persona.current_version.as_deref().unwrap_or("gone"),
            persona.recorded_version.as_deref().unwrap_or("-")
        ));
    }
    for resource in &drift.stack.resources {
        text.push_str(&format!(
            "    stack resource {} ({}): {}\n",
            resource.logical_id, resource.resource_type, resource.drift
        ));
    }
    if let Some(reason) = &drift.stack.reason {
        text.push_str(&format!("    stack resources: {} ({reason})\n", drift.stack.status));
    }
    text
}
