//! What a deploy would change, changing nothing: the stack (a change set created and deleted
//! again, or — before the first deploy — the template's resources, since a CREATE change set
//! would leave a stack behind), the function code against the live version, and the site
//! planned exactly as the site step would plan it.
//! Must not: write to the environment. The template is uploaded by content to the artifacts
//! bucket (as a deploy would); no change set is left behind, even when a step fails.

use serde::Serialize;

use super::site::{self, SitePreview};
use crate::artifacts;
use crate::aws::stack::{self, Plan, ResourceChange, TemplateSource, Waiting};
use crate::aws::{lambda, s3};
use crate::bundle::Located;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::iam_diff::{self, IamChanges};
use crate::release;
use crate::target::Target;

#[derive(Debug, Serialize)]
pub struct Diff {
    pub environment: String,
    pub stack: String,
    pub stack_exists: bool,
    pub stack_changes: Vec<ResourceChange>,
    /// IAM grants the template change adds and removes (statement by statement).
    pub iam: IamChanges,
    pub function_code_changes: bool,
    pub live_code_sha256: Option<String>,
    pub new_code_sha256: String,
    pub site: Option<SitePreview>,
    pub changes: bool,
}

/// The IAM grants deploying the configured template would add and remove, against the
/// template the stack runs now (everything is added before the first deploy).
pub async fn iam_changes(ctx: &Context, target: &Target) -> Result<IamChanges> {
    let template_path = ctx.config.resolve(&ctx.config.templates.stack);
    let template = std::fs::read_to_string(&template_path).map_err(anyhow::Error::from)?;
    let running = match &target.stack {
        Some(_) => Some(stack::template_body(&target.aws.cloudformation(), &target.stack_name).await?),
        None => None,
    };
    iam_diff::compare(running.as_deref(), &template)
        .map_err(|e| Error::user(format!("{}: {e}", template_path.display())))
}

pub async fn diff(ctx: &Context, target: &Target, located: &Located) -> Result<(Diff, Plan)> {
    let phase = ctx.printer.phase("diff");
    let live_code = match (target.outputs.get("FunctionName"), &target.live_version) {
        (Some(function), Some(version)) => {
            Some(lambda::version_configuration(&target.aws.lambda(), function, version).await?.code_sha256)
        }
        _ => None,
    };
    let template_path = ctx.config.resolve(&ctx.config.templates.stack);
    let template = std::fs::read_to_string(&template_path).map_err(anyhow::Error::from)?;
    let plan = if target.stack.is_some() {
        let client = target.aws.s3();
        let bucket = target.artifacts_bucket()?;
        let key = artifacts::template_key(&s3::sha256_hex(template.as_bytes()));
        s3::put_bytes_if_absent(&client, bucket, &key, template.as_bytes(), "application/x-yaml").await?;
        let source = TemplateSource::Url(s3::https_url(bucket, &target.aws.region, &key));
        let parameters = super::parameters_for(&template, &super::stack_parameters(ctx, target, located)?)?;
        let cfn = target.aws.cloudformation();
        let waiting = Waiting::for_endpoint(target.aws.is_emulator());
        let proposal = target.stack_change(&source, &parameters)?;
        let plan = stack::plan(&cfn, &target.stack_name, &proposal, &waiting, &phase).await?;
        stack::discard(&cfn, &plan).await?;
        plan
    } else {
        Plan {
            stack_name: target.stack_name.clone(),
            change_set_id: None,
            create: true,
            changes: stack::template_resources(&template)?,
        }
    };

    let site = match (super::desired_site(ctx, target, located)?, target.outputs.get("FrontendBucketName")) {
        (Some((desired, _)), Some(bucket)) => {
            let client = target.aws.s3();
            let current_release = release::current(&client, target.artifacts_bucket()?, &target.name).await?;
            let recorded = current_release.map(|r| r.site).unwrap_or_default();
            let current = site::current(&client, bucket, &recorded, 16).await?;
            Some(site::plan(desired, &current).preview())
        }
        _ => None,
    };
    let iam = iam_changes(ctx, target).await?;
    phase.finish("compared");

    let function_code_changes = live_code.as_deref() != Some(located.bundle.function.code_sha256.as_str());
    let changes = !plan.changes.is_empty()
        || function_code_changes
        || site.as_ref().is_some_and(|s| !s.is_empty())
        || target.stack.is_none();
    let diff = Diff {
        environment: target.name.clone(),
        stack: target.stack_name.clone(),
        stack_exists: target.stack.is_some(),
        stack_changes: plan.changes.clone(),
        iam,
        function_code_changes,
        live_code_sha256: live_code,
        new_code_sha256: located.bundle.function.code_sha256.clone(),
        site,
        changes,
    };
    Ok((diff, plan))
}

pub fn render(diff: &Diff, plan: &Plan) -> String {
    let mut text = stack::render(plan).trim_end().to_owned();
    text.push('\n');
    if diff.iam.broadens() {
        text.push_str(&format!("IAM: access broadens ({} grant(s)):\n", diff.iam.broadened.len()));
        for grant in &diff.iam.broadened {
            text.push_str(&format!("  + {grant}\n"));
        }
    }
    if !diff.iam.narrowed.is_empty() {
        text.push_str(&format!("IAM: access narrows ({} grant(s)):\n", diff.iam.narrowed.len()));
        for grant in &diff.iam.narrowed {
            text.push_str(&format!("  - {grant}\n"));
        }
    }
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
        let plan = Plan {
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
            iam: IamChanges {
                broadened: vec!["FunctionRole: Allow s3:DeleteObject on ${MemoryBucket.Arn}/*".into()],
                narrowed: vec!["FunctionRole: Allow s3:GetObject on ${MemoryBucket.Arn}/sessions/* (removed)".into()],
            },
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
        let empty = Plan { change_set_id: None, changes: Vec::new(), ..plan };
        let unchanged = Diff {
            stack_changes: Vec::new(),
            iam: IamChanges::default(),
            function_code_changes: false,
            site: Some(SitePreview { unchanged: 15, ..SitePreview::default() }),
            changes: false,
            ..diff
        };
        insta::assert_snapshot!("diff_text_without_changes", render(&unchanged, &empty));
        insta::assert_json_snapshot!("diff_json", unchanged);
    }
}
