//! `twinctl diff <env>`: what a deploy would change, changing nothing.
//!
//! A change set is created and deleted again (add / modify / remove, replacements flagged);
//! the function code is compared with the live version's CodeSha256; the site is compared
//! file by file with the bucket. Exit 0 when nothing would change, 3 when something would.

use serde::Serialize;

use crate::cli::DiffArgs;
use crate::commands::deploy;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::function;
use crate::stack::{self, ResourceChange};
use crate::sync::{self, SitePreview};

#[derive(Debug, Serialize)]
struct Diff {
    environment: String,
    stack: String,
    stack_exists: bool,
    stack_changes: Vec<ResourceChange>,
    function_code_changes: bool,
    live_code_sha256: Option<String>,
    new_code_sha256: String,
    site: Option<SitePreview>,
    changes: bool,
}

pub async fn run(ctx: &Context, args: &DiffArgs) -> Result<Exit> {
    let environment = ctx.config.environment(&args.env)?;
    let aws = ctx.aws(environment).await?;
    let artifacts_bucket = deploy::artifacts_bucket(ctx, &aws, &args.env).await?;
    let (bundle_dir, bundle, _) = deploy::resolve_bundle(ctx, &args.env, args.artifacts.as_deref()).await?;

    let cfn = aws.cloudformation();
    let lambda = aws.lambda();
    let name = ctx.config.stack_name(&args.env, environment);
    let existing = stack::describe(&cfn, &name).await?;
    let outputs = existing.as_ref().map(stack::outputs).unwrap_or_default();
    let (live_version, live_code) = match outputs.get("FunctionName") {
        Some(function_name) => match function::alias_version(&lambda, function_name).await? {
            Some(version) => {
                let configuration = function::version_configuration(&lambda, function_name, &version).await?;
                (Some(version), configuration.code_sha256)
            }
            None => (None, None),
        },
        None => (None, None),
    };

    let phase = ctx.printer.phase("diff");
    let template_path = ctx.config.resolve(&ctx.config.templates.stack);
    let template = std::fs::read_to_string(&template_path).map_err(anyhow::Error::from)?;
    let parameters = deploy::stack_parameters(ctx, &args.env, &artifacts_bucket, &bundle, live_version.as_deref())?;
    let plan = stack::plan(&cfn, &name, &template, &parameters, &phase).await?;
    stack::discard(&cfn, &plan).await?;
    // A stack that did not exist before keeps a REVIEW_IN_PROGRESS shell after its change set
    // is deleted; remove it so diff leaves nothing behind.
    if existing.is_none()
        && let Some(shell) = stack::describe(&cfn, &name).await?
        && shell.stack_status().is_some_and(|s| s.as_str() == "REVIEW_IN_PROGRESS")
    {
        let _ = cfn.delete_stack().stack_name(&name).send().await;
    }

    let site = match (&bundle.site, &ctx.config.frontend, outputs.get("FrontendBucketName")) {
        (Some(site), Some(frontend), Some(bucket)) => Some(
            sync::preview(
                &aws.s3(),
                bucket,
                &bundle_dir.join(&site.dir),
                Some((frontend.runtime_config.as_str(), deploy::runtime_config(&args.env)?)),
            )
            .await?,
        ),
        _ => None,
    };
    phase.finish("compared");

    let function_code_changes = live_code.as_deref() != Some(bundle.function.code_sha256.as_str());
    let changes =
        !plan.is_empty() || function_code_changes || site.as_ref().is_some_and(|s| !s.is_empty()) || existing.is_none();
    let diff = Diff {
        environment: args.env.clone(),
        stack: name,
        stack_exists: existing.is_some(),
        stack_changes: plan.changes.clone(),
        function_code_changes,
        live_code_sha256: live_code,
        new_code_sha256: bundle.function.code_sha256.clone(),
        site,
        changes,
    };
    ctx.printer.result(&diff, || render(&diff, &plan));
    Ok(if diff.changes { Exit::Changes } else { Exit::Success })
}

fn render(diff: &Diff, plan: &stack::Plan) -> String {
    let mut text = stack::render(plan).trim_end().to_owned();
    text.push('\n');
    text.push_str(&format!(
        "function: {}\n",
        if diff.function_code_changes {
            format!("new code ({})", diff.new_code_sha256)
        } else {
            "code unchanged".to_owned()
        }
    ));
    if let Some(site) = &diff.site {
        text.push_str(&format!(
            "site: {} new, {} changed, {} deleted, {} unchanged\n",
            site.new.len(),
            site.changed.len(),
            site.deleted.len(),
            site.unchanged
        ));
        for (sign, keys) in [("+", &site.new), ("~", &site.changed), ("-", &site.deleted)] {
            for key in keys {
                text.push_str(&format!("  {sign} {key}\n"));
            }
        }
    }
    text.push_str(if diff.changes { "changes pending\n" } else { "no changes\n" });
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::SitePreview;

    fn change(action: &str, logical_id: &str, resource_type: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: logical_id.into(),
            resource_type: resource_type.into(),
            replacement: replacement.map(Into::into),
        }
    }

    #[test]
    fn diff_text_is_stable() {
        let changes = vec![
            change("Add", "Dashboard", "AWS::CloudWatch::Dashboard", None),
            change("Modify", "Function", "AWS::Lambda::Function", Some("False")),
            change("Modify", "Api", "AWS::ApiGatewayV2::Api", Some("True")),
            change("Remove", "OldAlarm", "AWS::CloudWatch::Alarm", None),
        ];
        let plan = stack::Plan {
            stack_name: "twin-staging".into(),
            change_set_id: Some("arn:cs".into()),
            create: false,
            changes: changes.clone(),
        };
        let diff = Diff {
            environment: "staging".into(),
            stack: "twin-staging".into(),
            stack_exists: true,
            stack_changes: changes,
            function_code_changes: true,
            live_code_sha256: Some("old=".into()),
            new_code_sha256: "new=".into(),
            site: Some(SitePreview {
                new: vec!["about.html".into()],
                changed: vec!["index.html".into()],
                deleted: vec!["_next/static/old.js".into()],
                unchanged: 12,
            }),
            changes: true,
        };
        insta::assert_snapshot!("diff_text_with_changes", render(&diff, &plan));
        let empty = stack::Plan { change_set_id: None, changes: Vec::new(), ..plan };
        let unchanged = Diff {
            stack_changes: Vec::new(),
            function_code_changes: false,
            site: Some(SitePreview { unchanged: 15, ..SitePreview::default() }),
            changes: false,
            ..diff
        };
        insta::assert_snapshot!("diff_text_without_changes", render(&unchanged, &empty));
        insta::assert_json_snapshot!("diff_json", unchanged);
    }
}
